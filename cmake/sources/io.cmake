# SPDX-License-Identifier: Apache-2.0
# Sources of ternary::io: safetensors and GGUF containers.
set(TERNARY_IO_SOURCES
    src/io/common.cpp
    src/io/json.cpp
    src/io/safetensors.cpp
    src/io/packed.cpp
    src/io/gguf.cpp)
