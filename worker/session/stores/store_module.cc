#include "worker/session/stores/store_module.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <system_error>
#include <vector>

namespace dynoguard::worker {

using common::Status;

std::string StoreModuleFile(std::string_view kind) {
  return "dynoguard-" + std::string(kind) + ".so";
}

namespace {

// The directories a module is looked for in: the running program's own,
// then ../lib/dynoguard beside it (an installed layout).
std::vector<std::filesystem::path> ModuleDirectories() {
  std::error_code ec;
  std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {"."};
  std::filesystem::path dir = exe.parent_path();
  return {dir, dir.parent_path() / "lib" / "dynoguard"};
}

}  // namespace

StoreResult LoadStoreModule(std::string_view kind,
                            const StoreModuleArgs& args) {
  const std::string file = StoreModuleFile(kind);
  std::string errors;
  void* handle = nullptr;
  for (const auto& dir : ModuleDirectories()) {
    const std::filesystem::path path = dir / file;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) continue;
    // Never closed: the store's code runs until the process exits.
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* why = dlerror();
    errors += "; " + path.string() + ": " + (why != nullptr ? why : "?");
  }
  if (handle == nullptr) {
    return Status::Internal(
        "session: cannot load " + file + " (the " + std::string(kind) +
        " store; it is installed beside the worker)" +
        (errors.empty() ? std::string(": not found") : errors));
  }
  auto make =
      reinterpret_cast<MakeStoreFunction>(dlsym(handle, kMakeStoreSymbol));
  if (make == nullptr) {
    return Status::Internal("session: " + file + " has no " + kMakeStoreSymbol);
  }
  std::optional<StoreResult> out;
  make(&args, &out);
  if (!out) return Status::Internal("session: " + file + " made no store");
  return std::move(*out);
}

}  // namespace dynoguard::worker
