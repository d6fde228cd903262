#!/usr/bin/env bash
# Launches goatlm on N ranks with mpirun (default) or srun (inside a Slurm allocation), with the
# settings a data-parallel run needs: one rank per GPU (or per CPU slice), OpenMP threads split
# between the ranks of a node, NCCL/GOATLM/OMP environment forwarded to every rank, the network
# interface pinned for both MPI and NCCL, and the whole job stopped when one rank fails.
#
# Usage: scripts/launch.sh [options] -- COMMAND...
#   -n, --np N              total ranks (default: GPUs on this node, else 2)
#   -p, --per-node G        ranks per node (default: N on one node; multi-node: GPUs per node)
#       --hostfile FILE     Open MPI hostfile ("node1 slots=8" per line) for multi-node runs
#       --hosts LIST        comma list "node1:8,node2:8" instead of a hostfile
#       --iface IF          network interface for MPI and NCCL (e.g. eth0, ib0); sets
#                           NCCL_SOCKET_IFNAME and btl_tcp_if_include / oob_tcp_if_include
#       --srun              use srun (default when SLURM_JOB_ID is set and mpirun is not forced)
#       --mpirun            use mpirun even inside Slurm
#       --dry-run           print the command instead of running it
# Examples:
#   scripts/launch.sh -n 2 -- build/goatlm train --config configs/tiny.json   # 2 CPU ranks
#   scripts/launch.sh -n 8 -- build/goatlm train --config configs/gpt2_124m.json --set device=cuda
#   scripts/launch.sh -n 16 -p 8 --hostfile hosts.txt --iface ib0 -- build/goatlm train ...
#   sbatch -N2 --ntasks-per-node=8 --gpus-per-node=8 --wrap "scripts/launch.sh -n 16 -p 8 -- build/goatlm train ..."
set -euo pipefail

np="" per_node="" hostfile="" hosts="" iface="" launcher="" dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|--np) np="$2"; shift 2 ;;
    -p|--per-node) per_node="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --hosts) hosts="$2"; shift 2 ;;
    --iface) iface="$2"; shift 2 ;;
    --srun) launcher=srun; shift ;;
    --mpirun) launcher=mpirun; shift ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "launch.sh: unknown option '$1' (the command goes after --)" >&2; exit 2 ;;
  esac
done
if [[ $# -eq 0 ]]; then echo "launch.sh: no command given after --" >&2; exit 2; fi

gpus=0
if command -v nvidia-smi >/dev/null 2>&1; then gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true); fi
if [[ -z "$np" ]]; then np=$(( gpus > 0 ? gpus : 2 )); fi
if [[ -z "$per_node" ]]; then
  if [[ -n "$hostfile" || -n "$hosts" || -n "${SLURM_JOB_NUM_NODES:-}" && "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]]; then
    per_node=$(( gpus > 0 ? gpus : 1 ))
  else
    per_node=$np
  fi
fi
if [[ -z "$launcher" ]]; then launcher=$([[ -n "${SLURM_JOB_ID:-}" ]] && echo srun || echo mpirun); fi

# CPU ranks: split this node's cores between its ranks (the GPU path needs few host threads).
cores=$(nproc)
threads=$(( cores / per_node > 0 ? cores / per_node : 1 ))
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$threads}"
if [[ -n "$iface" ]]; then export NCCL_SOCKET_IFNAME="$iface"; fi

if [[ "$launcher" == srun ]]; then
  # --kill-on-bad-exit: one failed rank ends the step (the others also stop via dist.timeout_s).
  cmd=(srun --ntasks="$np" --ntasks-per-node="$per_node" --kill-on-bad-exit=1 --cpus-per-task="$threads"
       --export=ALL "$@")
else
  cmd=(mpirun -np "$np" --map-by "ppr:${per_node}:node" --bind-to none)
  if [[ $(id -u) -eq 0 ]]; then cmd+=(--allow-run-as-root); fi
  if (( np > cores )) && [[ -z "$hostfile" && -z "$hosts" ]]; then cmd+=(--oversubscribe); fi
  if [[ -n "$hostfile" ]]; then cmd+=(--hostfile "$hostfile"); fi
  if [[ -n "$hosts" ]]; then cmd+=(--host "$hosts"); fi
  if [[ -n "$iface" ]]; then cmd+=(--mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface"); fi
  # Forward the run's environment: OpenMP, NCCL knobs, goatlm settings, CUDA device selection.
  for v in $(env | cut -d= -f1 | grep -E '^(OMP_|NCCL_|GOATLM_|CUDA_VISIBLE_DEVICES$|UCX_)' || true); do cmd+=(-x "$v"); done
  cmd+=("$@")
fi

if (( dry_run )); then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
exec "${cmd[@]}"
