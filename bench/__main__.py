import argparse

from bench.workloads import main

parser = argparse.ArgumentParser(prog="python -m bench", description="Broker benchmarks.")
parser.add_argument("--messages", type=int, default=1_000_000)
parser.add_argument("--size", type=int, default=100)
parser.add_argument("--peer", choices=["tansu"], help="run every workload on tansu too")
args = parser.parse_args()
main(args.messages, args.size, args.peer)
