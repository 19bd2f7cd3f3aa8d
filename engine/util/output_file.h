#pragma once
// A file the engine writes (metrics, statistics, traces, logits, manifests) whose every failure,
// at open, write, flush or close, is an Error naming the file: a full disk or a read-only target
// never passes for a written report. Writes are buffered; close() is where the last of them can
// fail, so a caller that wants its data calls it.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace streammoe {

class OutputFile {
 public:
  // Creates or truncates `path`.
  explicit OutputFile(std::filesystem::path path);
  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Writes what is buffered and closes, reporting nothing: either close() ran, or an Error is
  // already on its way. A caller that wants to know its data arrived calls close().
  ~OutputFile();

  void write(std::string_view bytes);
  void write(const void* data, size_t bytes) { write(std::string_view(static_cast<const char*>(data), bytes)); }
  // Overwrites bytes already written, at `offset` (a header filled in last); appends continue
  // after the end.
  void write_at(uint64_t offset, std::string_view bytes);
  // Writes what is buffered and, with `durable`, fsyncs; the file stays open.
  void flush(bool durable = false);
  // Flushes and closes; throws naming the file if any of it failed.
  void close(bool durable = false);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_through(std::string_view bytes);

  std::filesystem::path path_;
  int fd_ = -1;
  std::string buffer_;
};

// Writes `text` as the whole content of `path`, reporting any failure.
void write_file(const std::filesystem::path& path, std::string_view text);

}  // namespace streammoe
