# Sourced by the smoke tests: `check NAME COMMAND...` runs COMMAND with its output in
# $work/out, counts it in $pass or $fail, and shows the last CHECK_TAIL lines of a failure.
pass=0
fail=0
check() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    pass=$((pass + 1))
    echo "   ok   $name"
  else
    fail=$((fail + 1))
    echo "   FAIL $name"
    sed 's/^/        /' "$work/out" | tail -n "${CHECK_TAIL:-20}"
  fi
}
