#!/usr/bin/env bash
# The Debian packages the tests need beyond Python: headless Chromium and its driver (the app's
# end-to-end tests) and a Java 17 runtime (the Spark engine's tests). Installs only what is
# missing; uses sudo unless run as root.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# pyspark 4 needs Java 17 or later.
java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || missing+=(openjdk-17-jre-headless)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
