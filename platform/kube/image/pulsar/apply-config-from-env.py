#!/usr/bin/env python3
"""Set keys of Pulsar's properties files from the environment (the chart's contract, as the
apachepulsar image's script of this name keeps it): a key present in the file - also as a
commented-out `#key=` line - takes the value of env `key` or `PULSAR_PREFIX_key`; a
`PULSAR_PREFIX_key` the file lacks is appended. `--env_file` adds `key=value` lines to the env."""

import argparse
import os

PREFIX = "PULSAR_PREFIX_"


def main() -> None:
    parser = argparse.ArgumentParser(description="apply config from env")
    parser.add_argument("--env_file")
    parser.add_argument("conf_files", nargs="+")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.env_file:
        with open(args.env_file) as f:
            for raw in f:
                line = raw.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip()
    for path in args.conf_files:
        with open(path) as f:
            lines = f.readlines()
        index = {}
        for n, raw in enumerate(lines):
            line = raw.strip()
            if "=" in line:
                index[line.split("=", 1)[0].lstrip("#").strip()] = n
        added = []
        for name in sorted(env):
            key = name[len(PREFIX) :] if name.startswith(PREFIX) else name
            value = env[name].strip()
            if key in index:
                lines[index[key]] = f"{key}={value}\n"
            elif name.startswith(PREFIX):
                added.append(f"{key}={value}\n")
                index[key] = len(lines) + len(added) - 1
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        with open(path, "w") as f:
            f.writelines(lines + added)


if __name__ == "__main__":
    main()
