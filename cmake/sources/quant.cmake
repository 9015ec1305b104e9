# SPDX-License-Identifier: Apache-2.0
# Sources of ternary::quant: the weight-only ternarizers.
set(TERNARY_QUANT_SOURCES src/quant/ternarize.cpp src/quant/solvers.cpp src/quant/ptqtp.cpp)
