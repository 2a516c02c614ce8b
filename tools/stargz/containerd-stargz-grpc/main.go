// Command containerd-stargz-grpc serves the stargz snapshotter (the library Debian ships as
// golang-github-containerd-stargz-snapshotter-dev) as a containerd proxy snapshotter: the
// containerd.services.snapshots.v1 gRPC API on a Unix socket, with its state under a root dir.
//
//	containerd-stargz-grpc [-address SOCK] [-root DIR] [-config FILE] [-log-level LEVEL]
//
// Debian's package ships the library but not upstream's daemon; this is ours, written against
// the library's fs, fs/source and snapshot packages for tools/coldstart-bench. (The library's
// service package, which upstream's daemon uses, does not build from Debian 12: its
// service/resolver imports k8s.io/cri-api, which Debian 12 does not package.) So this daemon
// resolves layers from the default labels that `ctr-remote image rpull` passes, not from the
// CRI plugin's labels, and takes no credentials (anonymous pulls only). It serves until SIGINT
// or SIGTERM, then unmounts every layer it mounted and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/reference"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/overlay/overlayutils"
	stargzfs "github.com/containerd/stargz-snapshotter/fs"
	fsconfig "github.com/containerd/stargz-snapshotter/fs/config"
	"github.com/containerd/stargz-snapshotter/fs/layer"
	"github.com/containerd/stargz-snapshotter/fs/source"
	"github.com/containerd/stargz-snapshotter/snapshot"
	"github.com/pelletier/go-toml"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "containerd-stargz-grpc: "+format+"\n", args...)
	os.Exit(1)
}

// Config has upstream's config.toml keys: the filesystem's settings at the top level and
// [[resolver.host."HOST".mirrors]] entries (host, insecure, request_timeout_sec).
type Config struct {
	fsconfig.Config
	Resolver struct {
		Host map[string]struct {
			Mirrors []Mirror `toml:"mirrors"`
		} `toml:"host"`
	} `toml:"resolver"`
}

// Mirror is one registry endpoint tried for a host, in order; the host itself comes last.
type Mirror struct {
	Host              string `toml:"host"`
	Insecure          bool   `toml:"insecure"` // plain HTTP
	RequestTimeoutSec int    `toml:"request_timeout_sec"`
}

// registryHosts answers, for an image reference, the endpoints to fetch its blobs from:
// the configured mirrors of its host, then the host itself (plain HTTP for localhost or a host
// configured as insecure). No credentials are sent.
func registryHosts(cfg *Config) source.RegistryHosts {
	return func(ref reference.Spec) ([]docker.RegistryHost, error) {
		name := ref.Hostname()
		self := Mirror{Host: name}
		for _, m := range cfg.Resolver.Host[name].Mirrors {
			if m.Host == name {
				self.Insecure = self.Insecure || m.Insecure
			}
		}
		var hosts []docker.RegistryHost
		for _, m := range append(cfg.Resolver.Host[name].Mirrors, self) {
			timeout := 30 * time.Second
			if m.RequestTimeoutSec > 0 {
				timeout = time.Duration(m.RequestTimeoutSec) * time.Second
			}
			// The library's fetcher uses Client.Transport directly, so it must be set.
			client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(),
				Timeout: timeout}
			h := docker.RegistryHost{
				Client:       client,
				Authorizer:   docker.NewDockerAuthorizer(docker.WithAuthClient(client)),
				Host:         m.Host,
				Scheme:       "https",
				Path:         "/v2",
				Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
			}
			if local, _ := docker.MatchLocalhost(m.Host); local || m.Insecure {
				h.Scheme = "http"
			}
			if h.Host == "docker.io" {
				h.Host = "registry-1.docker.io"
			}
			hosts = append(hosts, h)
		}
		return hosts, nil
	}
}

// newSnapshotter builds the stargz filesystem under ROOT/stargz and the overlay-based
// snapshotter that uses it under ROOT/snapshotter (upstream's layout).
func newSnapshotter(ctx context.Context, root string, cfg *Config) (snapshots.Snapshotter, error) {
	snRoot := filepath.Join(root, "snapshotter")
	if err := os.MkdirAll(snRoot, 0o700); err != nil {
		return nil, err
	}
	opaque := layer.OverlayOpaqueTrusted
	if userxattr, err := overlayutils.NeedsUserXAttr(snRoot); err != nil {
		log.G(ctx).WithError(err).Warn("cannot tell whether overlay needs userxattr; assuming not")
	} else if userxattr {
		opaque = layer.OverlayOpaqueUser
	}
	fs, err := stargzfs.NewFilesystem(filepath.Join(root, "stargz"), cfg.Config,
		stargzfs.WithGetSources(source.FromDefaultLabels(registryHosts(cfg))),
		stargzfs.WithOverlayOpaqueType(opaque))
	if err != nil {
		return nil, fmt.Errorf("filesystem: %w", err)
	}
	return snapshot.NewSnapshotter(ctx, snRoot, fs, snapshot.AsynchronousRemove)
}

// loadConfig reads the TOML config at PATH; an empty path gives the library's defaults.
func loadConfig(path string) (*Config, error) {
	var cfg Config
	if path == "" {
		return &cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := toml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

// listen opens the Unix socket at ADDRESS, replacing a socket a killed daemon left there;
// anything else at the path is not ours to remove.
func listen(address string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(address), 0o700); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(address); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", address)
		}
		if err := os.Remove(address); err != nil {
			return nil, err
		}
	}
	return net.Listen("unix", address)
}

func main() {
	address := flag.String("address", "/run/containerd-stargz-grpc/containerd-stargz-grpc.sock",
		"Unix socket to serve the snapshots API on")
	root := flag.String("root", "/var/lib/containerd-stargz-grpc", "state and cache directory")
	configPath := flag.String("config", "", "TOML config file (optional)")
	logLevel := flag.String("log-level", "info", "logrus level: debug, info, warn, error")
	flag.Parse()
	if flag.NArg() != 0 {
		fail("unexpected argument %q", flag.Arg(0))
	}
	level, err := logrus.ParseLevel(*logLevel)
	if err != nil {
		fail("bad -log-level: %v", err)
	}
	logrus.SetLevel(level)
	logrus.SetOutput(os.Stderr)

	cfg, err := loadConfig(*configPath)
	if err != nil {
		fail("config: %v", err)
	}
	if err := os.MkdirAll(*root, 0o700); err != nil {
		fail("root: %v", err)
	}
	ctx := log.WithLogger(context.Background(), logrus.NewEntry(logrus.StandardLogger()))
	sn, err := newSnapshotter(ctx, *root, cfg)
	if err != nil {
		fail("snapshotter: %v", err)
	}

	lis, err := listen(*address)
	if err != nil {
		sn.Close() // it may have remounted snapshots restored from an earlier run
		fail("%v", err)
	}
	rpc := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(rpc, snapshotservice.FromSnapshotter(sn))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- rpc.Serve(lis) }()
	log.G(ctx).WithField("address", *address).WithField("root", *root).Info("serving")

	select {
	case sig := <-sigs:
		log.G(ctx).WithField("signal", sig).Info("stopping")
		rpc.Stop()
	case err := <-served:
		if err != nil {
			log.G(ctx).WithError(err).Error("serve failed")
		}
	}
	// Close unmounts every layer the snapshotter mounted.
	if err := sn.Close(); err != nil {
		fail("close: %v", err)
	}
	os.Remove(*address)
}
