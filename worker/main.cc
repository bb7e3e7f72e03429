// worker: the WhatsApp gateway. main() is the table of contents.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("worker (dynoguard) %s\n", DYNOGUARD_VERSION);
    return 0;
  }
  return 0;
}
