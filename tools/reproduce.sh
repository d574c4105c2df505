#!/usr/bin/env bash
# Re-runs the README's results table (CPU): MNIST and Fashion-MNIST at T = 1 and 2 with their ANN
# twins, the T = 2 ablations over K and the surrogate (3 epochs each), and a short CIFAR-10 (JPEG
# q75) run on a 4,000-image subset that shows the pipeline learns on the CPU. The Fashion-MNIST
# runs made with the earlier default model pin it (--model convnet). The val-* runs hold 10,000
# training images out (--validation) to choose the MNIST recipe on (run two at a time, one thread
# each); the -seed1/-seed2 runs repeat the chosen MNIST recipe with other seeds (two at a time,
# one thread each). The val-fast-* runs chose the fast MNIST recipe (batch, learning rate, epochs)
# on the same held-out images; mnist-T2-K3-fast is that recipe on the whole training set (the
# time-to-accuracy run: run it alone on the machine). The val-bf16-* runs chose the fast recipe
# under --bf16 (bfloat16 autocast; a CPU with AVX-512 BF16 or AMX) on those images, and the
# mnist-T2-K3-convnet3-bf16-fast runs (seeds 0-2, each alone on the machine) are that recipe on
# the whole training set; mnist-T2-K3-convnet3-fp32-xeon is that recipe in float32, as on a CPU
# without bfloat16 instructions (alone on the machine; first run on a Xeon). Each run writes
# runs/<name>/summary.json with its exact command line, seed and final-epoch accuracy.
#
#   MNIST_DIR=... FASHION_DIR=... bash tools/reproduce.sh [name ...]   # default: every run
set -euo pipefail
cd "$(dirname "$0")/.."
mnist=${MNIST_DIR:-../shared/datasets/mnist}
fashion=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
cifar=${CIFAR_DIR:-../shared/datasets/cifar10-jpeg}
train() { .venv/bin/python -m mtsnn train --threads 2 --quiet --seed 0 "$@"; }

declare -A runs=(
  [mnist-T2-K3]="--dataset mnist --data-dir $mnist --timesteps 2"
  [mnist-T2-K3-12ep]="--dataset mnist --data-dir $mnist --timesteps 2 --epochs 12"
  [fashion-T2-K3]="--dataset fashion-mnist --data-dir $fashion --timesteps 2 --model convnet"
  [fashion-T2-K3-convnet3]="--dataset fashion-mnist --data-dir $fashion --timesteps 2 --model convnet3"
  [mnist-T2-K3-convnet3]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3"
  [fashion-ann-convnet3]="--dataset fashion-mnist --data-dir $fashion --ann --model convnet3"
  [mnist-ann-convnet3]="--dataset mnist --data-dir $mnist --ann --model convnet3"
  [mnist-ann]="--dataset mnist --data-dir $mnist --ann"
  [fashion-ann]="--dataset fashion-mnist --data-dir $fashion --ann --model convnet"
  [mnist-T1-K3]="--dataset mnist --data-dir $mnist --timesteps 1"
  [fashion-T1-K3]="--dataset fashion-mnist --data-dir $fashion --timesteps 1 --model convnet"
  [ablation-K1]="--dataset mnist --data-dir $mnist --epochs 3 --num-thresholds 1"
  [ablation-K2]="--dataset mnist --data-dir $mnist --epochs 3 --num-thresholds 2"
  [ablation-K3]="--dataset mnist --data-dir $mnist --epochs 3 --num-thresholds 3"
  [ablation-K4]="--dataset mnist --data-dir $mnist --epochs 3 --num-thresholds 4"
  [ablation-triangle]="--dataset mnist --data-dir $mnist --epochs 3 --surrogate triangle"
  [ablation-sigmoid]="--dataset mnist --data-dir $mnist --epochs 3 --surrogate sigmoid"
  [val-mnist-convnet3]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --validation 10000 --threads 1"
  [val-mnist-convnet3-rot10-scale10]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --validation 10000 --rotation 10 --scaling 0.1 --threads 1"
  [mnist-T2-K3-convnet3-rot10-scale10]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --rotation 10 --scaling 0.1"
  [mnist-ann-convnet3-rot10-scale10]="--dataset mnist --data-dir $mnist --ann --model convnet3 --rotation 10 --scaling 0.1"
  [mnist-T2-K3-convnet3-rot10-scale10-seed1]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --rotation 10 --scaling 0.1 --seed 1 --threads 1"
  [mnist-T2-K3-convnet3-rot10-scale10-seed2]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --rotation 10 --scaling 0.1 --seed 2 --threads 1"
  [val-fast-b128-e12]="--dataset mnist --data-dir $mnist --timesteps 2 --validation 10000 --epochs 12"
  [val-fast-b256-e10]="--dataset mnist --data-dir $mnist --timesteps 2 --validation 10000 --epochs 10 --batch-size 256 --lr 0.002"
  [val-fast-b256-e12]="--dataset mnist --data-dir $mnist --timesteps 2 --validation 10000 --epochs 12 --batch-size 256 --lr 0.002"
  [mnist-T2-K3-fast]="--dataset mnist --data-dir $mnist --timesteps 2 --epochs 12 --batch-size 256 --lr 0.002"
  [val-bf16-b256-e12]="--dataset mnist --data-dir $mnist --timesteps 2 --validation 10000 --epochs 12 --batch-size 256 --lr 0.002 --bf16"
  [val-bf16-b256-e20]="--dataset mnist --data-dir $mnist --timesteps 2 --validation 10000 --epochs 20 --batch-size 256 --lr 0.002 --bf16"
  [val-bf16-c3-b256-e8]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --validation 10000 --epochs 8 --batch-size 256 --lr 0.002 --bf16"
  [mnist-T2-K3-convnet3-bf16-fast]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --epochs 8 --batch-size 256 --lr 0.002 --bf16"
  [mnist-T2-K3-convnet3-bf16-fast-seed1]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --epochs 8 --batch-size 256 --lr 0.002 --bf16 --seed 1"
  [mnist-T2-K3-convnet3-bf16-fast-seed2]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --epochs 8 --batch-size 256 --lr 0.002 --bf16 --seed 2"
  [mnist-T2-K3-convnet3-fp32-xeon]="--dataset mnist --data-dir $mnist --timesteps 2 --model convnet3 --epochs 8 --batch-size 256 --lr 0.002"
  [cifar10-subset]="--dataset cifar10 --data-dir $cifar --model vgg11 --epochs 3 --limit-train 4000 --limit-test 1000"
)
order=(mnist-T2-K3 mnist-T2-K3-12ep fashion-T2-K3 fashion-T2-K3-convnet3 mnist-T2-K3-convnet3 mnist-ann-convnet3 fashion-ann-convnet3 mnist-ann fashion-ann mnist-T1-K3 fashion-T1-K3 ablation-K1
  ablation-K2 ablation-K3 ablation-K4 ablation-triangle ablation-sigmoid cifar10-subset
  val-mnist-convnet3 val-mnist-convnet3-rot10-scale10 mnist-T2-K3-convnet3-rot10-scale10
  mnist-ann-convnet3-rot10-scale10 mnist-T2-K3-convnet3-rot10-scale10-seed1
  mnist-T2-K3-convnet3-rot10-scale10-seed2 val-fast-b128-e12 val-fast-b256-e10 val-fast-b256-e12
  mnist-T2-K3-fast val-bf16-b256-e12 val-bf16-b256-e20 val-bf16-c3-b256-e8
  mnist-T2-K3-convnet3-bf16-fast mnist-T2-K3-convnet3-bf16-fast-seed1
  mnist-T2-K3-convnet3-bf16-fast-seed2 mnist-T2-K3-convnet3-fp32-xeon)
for name in "${@:-${order[@]}}"; do
  # shellcheck disable=SC2086  # the option strings split into words on purpose
  train ${runs[$name]} --out "runs/$name"
done
