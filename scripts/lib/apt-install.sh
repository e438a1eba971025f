# install_missing WHO PACKAGE...: installs with apt-get those of the packages that are not
# installed yet (after one apt-get update), saying so as WHO; nothing when all are there.
# Sourced by scripts/setup.sh and scripts/setup-arm64.sh; as root, else through sudo.
install_missing() {
  local who=$1 p sudo="" missing=()
  shift
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "$who: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
