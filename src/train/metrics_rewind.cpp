// rewind_metrics: filter line by line, write via DurableFile.
#include "train/metrics_rewind.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/durable_file.h"

namespace goat {

void rewind_metrics(const std::string& path, int64_t step) {
  if (!std::filesystem::exists(path)) return;
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    if (j["step"].get<int64_t>() <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept.data(), kept.size());
}

}  // namespace goat
