#!/bin/sh
# Entrypoint of the Liquid Edge images. It runs the command it is given (`liquid-broker …`,
# `liquid-controller start`, `liquid-agent simulate …`) with `exec`, after three optional steps
# driven by variables that are read here and never passed on:
#
#   ENTRYPOINT_ENV_FILES="LLN_X=/path LLN_Y=/path"
#       export each LLN_X from the content of its file (secrets live in volumes, not in the
#       compose file); an LLN_X already set wins.
#   ENTRYPOINT_ID_PREFIX_FROM_HOSTNAME=true
#       append the container's hostname to LLN_ID_PREFIX (default `sim`): compose replicas share
#       one environment, and each replica of a simulated fleet needs device ids of its own.
#   ENTRYPOINT_ONCE_OUTPUT=/path
#       a one-shot provisioning step: do nothing when the file exists, else run the command and
#       keep the last word it printed (the secret `liquid-broker credentials add` and
#       `liquid-lln device add` print last) in the file, mode 0600.
set -eu

if [ -n "${ENTRYPOINT_ENV_FILES:-}" ]; then
  for pair in $ENTRYPOINT_ENV_FILES; do
    name=${pair%%=*}
    file=${pair#*=}
    case "$name" in
      LLN_*) ;;
      *) echo "lln-entrypoint: ENTRYPOINT_ENV_FILES: '$name' is not an LLN_ variable" >&2; exit 2 ;;
    esac
    if [ -z "$(printenv "$name" || true)" ]; then
      if [ ! -r "$file" ]; then echo "lln-entrypoint: cannot read $file (for $name)" >&2; exit 2; fi
      value=$(cat "$file")
      export "$name=$value"
    fi
  done
fi
unset ENTRYPOINT_ENV_FILES

if [ "${ENTRYPOINT_ID_PREFIX_FROM_HOSTNAME:-}" = "true" ]; then
  export LLN_ID_PREFIX="${LLN_ID_PREFIX:-sim}-$(hostname)"
fi
unset ENTRYPOINT_ID_PREFIX_FROM_HOSTNAME

if [ -n "${ENTRYPOINT_ONCE_OUTPUT:-}" ]; then
  out=$ENTRYPOINT_ONCE_OUTPUT
  unset ENTRYPOINT_ONCE_OUTPUT
  if [ -s "$out" ]; then
    echo "lln-entrypoint: $out exists; nothing to do" >&2
    exit 0
  fi
  umask 077
  mkdir -p "$(dirname "$out")"
  "$@" > "$out.tmp"
  awk 'NF { last = $NF } END { if (last == "") exit 1; print last }' "$out.tmp" > "$out.word"
  mv "$out.word" "$out"
  rm -f "$out.tmp"
  echo "lln-entrypoint: wrote $out" >&2
  exit 0
fi

exec "$@"
