// Built only with -DIMGFS_LTO=ON: the program is nothing, its link is the check
// (tests/CMakeLists.txt).
int main() { return 0; }
