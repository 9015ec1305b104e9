// SPDX-License-Identifier: Apache-2.0
// `ternary demo`: ternarize a synthetic Gaussian matrix, pack it in every format and scale
// layout, run GEMV/GEMM through the dispatch API, check against the scalar reference and time it.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace ternary {
namespace cli {

/// Adds the `demo` subcommand to `app`.
void register_demo(CLI::App& app);

}  // namespace cli
}  // namespace ternary
