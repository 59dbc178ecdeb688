#!/usr/bin/env bash
# template.sh: prepares the `base' template the E2B tests create sandboxes from, in the state
# dir of FK ($FIRKIN_STATE_DIR). The SDK's commands.run runs `/bin/bash -l -c CMD': always the
# busybox root of scripts/busybox-rootfs.sh with the host's bash and the libraries it loads, so
# the tests need no network and do not depend on what an earlier `make run' cached.
# usage: tests/e2b/template.sh FK
set -euo pipefail
fk=${1:?usage: template.sh FK}
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/fkd-template.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$top/scripts/busybox-rootfs.sh" "$tmp/rootfs"
bash_bin=$(command -v bash)
for f in "$bash_bin" $(ldd "$bash_bin" | grep -o '/[^ ]*'); do
  real=$(readlink -f "$f")
  mkdir -p "$tmp/rootfs$(dirname "$f")"
  rm -f "$tmp/rootfs$f"
  cp "$real" "$tmp/rootfs$f"
done
[ -e "$tmp/rootfs/bin/bash" ] || ln -s "$bash_bin" "$tmp/rootfs/bin/bash"
"$top/scripts/images/mkimage" --tag base --compression none --cmd /bin/bash --workdir / \
  "$tmp/oci" "$tmp/rootfs" >/dev/null
"$fk" template prepare -q --id base "oci:$tmp/oci:base" >/dev/null
echo "base busybox+bash"
