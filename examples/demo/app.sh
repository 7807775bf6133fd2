#!/bin/sh
# A small app that does a few things a detection tool should notice, harmlessly:
# it reads an SSH private key (a fake one it creates under a temporary HOME),
# spawns a shell from Python, and looks at /etc/shadow if it may.
# Everything it creates lives in one temp directory that is removed at exit.
# Run it under pdigpy:  pdigpy -- examples/demo/app.sh
set -eu

demo_home=$(mktemp -d "${TMPDIR:-/tmp}/pdigpy-demo.XXXXXX")
trap 'rm -rf "$demo_home"' EXIT INT TERM
HOME=$demo_home
export HOME

echo "demo: working in a throwaway HOME: $HOME"

# 1. A (fake) SSH private key, then read it back like a credential stealer would.
mkdir -p "$HOME/.ssh"
chmod 700 "$HOME/.ssh"
printf '%s\n' '-----BEGIN OPENSSH PRIVATE KEY-----' \
    'ZmFrZSBrZXkgd3JpdHRlbiBieSB0aGUgcGRpZ3B5IGRlbW87IG5vdCBhIHJlYWwga2V5' \
    '-----END OPENSSH PRIVATE KEY-----' > "$HOME/.ssh/id_rsa"
chmod 600 "$HOME/.ssh/id_rsa"
lines=$(cat "$HOME/.ssh/id_rsa" | wc -l)
echo "demo: read $lines lines of ~/.ssh/id_rsa"

# 2. A shell spawned from Python (a typical post-exploitation step).
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import subprocess; subprocess.run(["/bin/sh", "-c", "echo demo: hello from a shell spawned by python"], check=True)'
else
    echo "demo: python3 not found, skipping the spawned shell"
fi

# 3. A look at the password hashes (only works as root; harmless either way).
if head -c 0 /etc/shadow 2>/dev/null; then
    echo "demo: opened /etc/shadow"
else
    echo "demo: could not open /etc/shadow (not root)"
fi

echo "demo: done"
