# Helpers the benchmark scripts share (sourced, not run).

# need CMD HOW: stop (exit 2) when CMD is not installed, saying how to install it.
need() { command -v "$1" >/dev/null || { echo "missing $1: $2" >&2; exit 2; }; }

# median N...: the median of the numbers given (the mean of the middle two for an even count).
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The machine line every result starts with.
machine() { echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | xargs), kernel $(uname -r)"; }
