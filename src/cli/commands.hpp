// SPDX-License-Identifier: Apache-2.0
// The file subcommands of `ternary`: quantize (quantize.cpp), inspect (inspect.cpp) and
// convert (convert.cpp).
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace ternary {
namespace cli {

/// `ternary quantize IN.safetensors OUT.safetensors --method M ...`
void register_quantize(CLI::App& app);
/// `ternary inspect FILE`
void register_inspect(CLI::App& app);
/// `ternary convert IN OUT --to FORMAT`
void register_convert(CLI::App& app);

}  // namespace cli
}  // namespace ternary
