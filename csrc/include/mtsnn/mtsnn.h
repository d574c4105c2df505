// mtsnn's C++ API in one include: the MT-LIF neuron as a function (functional.h), layers
// (nn.h), models (models.h), mtsnn checkpoints and safetensors files (checkpoint.h,
// safetensors.h) and the IDX datasets (data.h).
//
// Link with mtsnn::mtsnn (CMake: find_package(mtsnn)). Loading libmtsnn registers the operator
// torch.ops.mtsnn.mt_lif with its CPU (and, in CUDA builds, CUDA) kernels and its autograd.
#pragma once

#include "mtsnn/checkpoint.h"
#include "mtsnn/data.h"
#include "mtsnn/functional.h"
#include "mtsnn/models.h"
#include "mtsnn/nn.h"
#include "mtsnn/safetensors.h"
