#!/usr/bin/env bash
# Compressed copies of tests/fixtures/datasets/messages.jsonl, made by the real tools users compress
# with (Debian 12: gzip 1.12, zstd 1.5.4), for the dataset reader's tests: one stream each, and two
# members / two frames concatenated (`cat a.gz b.gz`, which zcat and zstdcat read as one text).
set -euo pipefail
cd "$(dirname "$0")/../fixtures/datasets"
gzip --version | head -1
zstd --version
src=messages.jsonl
gzip -9 -n -c "$src" >messages.jsonl.gz
zstd -q -19 -c "$src" >messages.jsonl.zst
head -n 1 "$src" >/tmp/frugal-part1.jsonl
tail -n +2 "$src" >/tmp/frugal-part2.jsonl
cat <(gzip -n -c /tmp/frugal-part1.jsonl) <(gzip -n -c /tmp/frugal-part2.jsonl) >messages_two_members.jsonl.gz
cat <(zstd -q -c /tmp/frugal-part1.jsonl) <(zstd -q -c /tmp/frugal-part2.jsonl) >messages_two_frames.jsonl.zst
rm -f /tmp/frugal-part1.jsonl /tmp/frugal-part2.jsonl
ls -l messages.jsonl*
