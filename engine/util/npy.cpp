#include "engine/util/npy.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/util/dtype.h"
#include "engine/util/error.h"
#include "engine/util/output_file.h"

namespace streammoe {
namespace {

std::string shape_tuple(std::span<const int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += std::to_string(shape[i]) + (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  return s + ")";
}

void write_npy(const std::filesystem::path& path, const char* descr, std::span<const int64_t> shape,
               const void* data, size_t bytes) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr,
                                   shape_tuple(shape));
  // magic(6) + version(2) + header_len(2) + header + '\n' padded to a multiple of 64
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  const uint16_t len = static_cast<uint16_t>(header.size());
  OutputFile out(path);
  out.write("\x93NUMPY\x01\x00", 8);
  out.write(&len, 2);
  out.write(header);
  out.write(data, bytes);
  out.close();
}

// The value of `key` in the header's Python dict literal: a quoted string, a tuple or a word.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  auto pos = header.find("'" + key + "'");
  if (pos == std::string::npos) fail("{}: npy header has no '{}'", path, key);
  pos = header.find(':', pos);
  const auto start = pos == std::string::npos ? pos : header.find_first_not_of(' ', pos + 1);
  if (start == std::string::npos) fail("{}: npy header has no value for '{}'", path, key);
  const auto end = header[start] == '(' ? header.find(')', start) : header.find_first_of(",}", start);
  if (end == std::string::npos) fail("{}: npy header value of '{}' is not terminated", path, key);
  return header.substr(start, end - start + (header[start] == '(' ? 1 : 0));
}

// The shape tuple "(4, 6144)" as dimensions, each a non-negative integer.
std::vector<int64_t> parse_shape(const std::string& tuple, const std::string& path) {
  std::vector<int64_t> shape;
  std::stringstream ss(tuple.substr(1, tuple.size() - 2));
  for (std::string item; std::getline(ss, item, ',');) {
    const auto first = item.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    const auto last = item.find_last_not_of(' ');
    const std::string digits = item.substr(first, last - first + 1);
    int64_t dim = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), dim);
    if (ec != std::errc() || end != digits.data() + digits.size() || dim < 0)
      fail("{}: npy shape {} has a dimension '{}' that is not a non-negative integer", path, tuple, digits);
    shape.push_back(dim);
  }
  return shape;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void write_npy_f32(const std::filesystem::path& path, std::span<const int64_t> shape,
                   std::span<const float> data) {
  write_npy(path, "<f4", shape, data.data(), data.size_bytes());
}

void write_npy_i64(const std::filesystem::path& path, std::span<const int64_t> shape,
                   std::span<const int64_t> data) {
  write_npy(path, "<i8", shape, data.data(), data.size_bytes());
}

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", name);
  in.seekg(0, std::ios::end);
  const auto file_bytes = static_cast<uint64_t>(std::max<std::streamoff>(in.tellg(), 0));
  in.seekg(0);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail("{}: not a .npy file", name);
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t len16 = 0;
    in.read(reinterpret_cast<char*>(&len16), 2);
    header_len = len16;
  } else if (magic[6] == 2 || magic[6] == 3) {
    in.read(reinterpret_cast<char*>(&header_len), 4);
  } else {
    fail("{}: npy format version {} is not supported (1, 2 or 3)", name, static_cast<int>(magic[6]));
  }
  const uint64_t data_start = static_cast<uint64_t>(in.tellg());
  if (!in || header_len > file_bytes - data_start)
    fail("{}: truncated npy header (header length {}, the file holds {} bytes)", name, header_len, file_bytes);
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) fail("{}: truncated npy header", name);
  if (dict_value(header, "fortran_order", name) != "False") fail("{}: fortran order unsupported", name);
  const std::string descr = dict_value(header, "descr", name);
  NpyArray arr;
  const std::string tuple = dict_value(header, "shape", name);
  if (tuple.size() < 2 || tuple.front() != '(') fail("{}: npy shape {} is not a tuple", name, tuple);
  arr.shape = parse_shape(tuple, name);
  size_t element_bytes = 0;
  if (descr == "'<f4'" || descr == "'<i4'") element_bytes = 4;
  else if (descr == "'<f2'") element_bytes = 2;
  else if (descr == "'<i8'") element_bytes = 8;
  else fail("{}: unsupported npy dtype {}", name, descr);
  // Sized against the file before anything is allocated: a shape the file cannot hold is refused
  // whatever it claims, and the byte count cannot overflow.
  const uint64_t payload = file_bytes - data_start - header_len;
  uint64_t n = 1;
  for (int64_t d : arr.shape) {
    if (d != 0 && n > UINT64_MAX / element_bytes / static_cast<uint64_t>(d))
      fail("{}: npy shape {} is too large: its byte count overflows", name, tuple);
    n *= static_cast<uint64_t>(d);
  }
  if (n * element_bytes > payload)
    fail("{}: truncated npy data (expected {} bytes, the file holds {})", name, n * element_bytes, payload);
  auto read_into = [&](void* dst, size_t bytes) {
    if (!in.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes)))
      fail("{}: truncated npy data (expected {} bytes)", name, bytes);
  };
  if (descr == "'<f4'") {
    arr.f32.resize(n);
    read_into(arr.f32.data(), n * 4);
  } else if (descr == "'<f2'") {
    std::vector<uint16_t> h(n);
    read_into(h.data(), n * 2);
    arr.f32.resize(n);
    for (uint64_t i = 0; i < n; ++i) arr.f32[i] = f16_to_f32(h[i]);
  } else if (descr == "'<i8'") {
    arr.i64.resize(n);
    read_into(arr.i64.data(), n * 8);
  } else {
    std::vector<int32_t> v(n);
    read_into(v.data(), n * 4);
    arr.i64.assign(v.begin(), v.end());
  }
  return arr;
}

}  // namespace streammoe
