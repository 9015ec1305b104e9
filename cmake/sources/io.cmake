# SPDX-License-Identifier: Apache-2.0
# Sources of ternary::io: safetensors and GGUF containers.
set(TERNARY_IO_SOURCES src/io/safetensors.cpp src/io/gguf.cpp)
