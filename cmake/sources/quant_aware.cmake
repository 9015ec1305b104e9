# SPDX-License-Identifier: Apache-2.0
# Sources of ternary::quant: the activation-aware mode.
set(TERNARY_QUANT_AWARE_SOURCES src/quant/aware.cpp src/quant/aware_fit.cpp
                                src/quant/aware_gram.cpp)
