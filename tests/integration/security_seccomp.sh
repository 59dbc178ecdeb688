#!/usr/bin/env bash
# The syscall filter is an allow list: from inside a sandbox, fk-attack-syscalls tries the calls
# a sandbox must not make (other processes' memory and files, NUMA policy, vsock, personality
# flags, terminal input, mount listing, namespaces natively and through the i386 and x32 entry
# points, syscalls no review has seen) and a few it must; every probe's answer is checked.
# Then: --seccomp-allow gets a call past the filter, --seccomp unconfined has no filter, and an
# unknown name is a clear error.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"

# probe NAME EXPECTED: one line of the attack's output each.
probes=(
  "getpid OK" "personality_query OK" "socket_unix OK" "fork OK"
  "ptrace_attach_pid1 EPERM" "ptrace_attach_nopid EPERM" "process_vm_readv EPERM"
  "process_vm_writev EPERM" "pidfd_getfd EPERM" "kcmp EPERM"
  "personality_read_implies_exec EPERM" "mbind EPERM" "set_mempolicy EPERM" "move_pages EPERM"
  "migrate_pages EPERM"
  "socket_vsock EPERM" "socket_vsock_highbits EPERM" "socketpair_vsock EPERM"
  "open_tree_attr ENOSYS" "listmount ENOSYS" "statmount ENOSYS" "unknown_syscall_1000 ENOSYS"
  "unshare_newuser EPERM" "clone_newuser EPERM" "clone3 ENOSYS"
  "i386_unshare EPERM" "x32_unshare EPERM"
  "ioctl_tiocsti EPERM" "ioctl_tiocsti_highbits EPERM" "ioctl_tioclinux EPERM"
)
plan $((${#probes[@]} + 7))

attack=$FK_ATTACK_DIR/fk-attack-syscalls
# run_attack ID [PROBE]: copies the attack into ID (once) and prints its output.
run_attack() {
  local id=$1; shift
  if ! "$FK" exec "$id" -- test -x /tmp/fk-attack-syscalls 2>/dev/null; then
    "$FK" cp "$attack" "$id:/tmp/fk-attack-syscalls" && "$FK" exec "$id" -- chmod 755 /tmp/fk-attack-syscalls
  fi
  "$FK" exec "$id" -- /tmp/fk-attack-syscalls "$@"
}
# result OUTPUT NAME: the probe's answer.
result() { printf '%s\n' "$1" | awk -v n="$2" '$1 == n { print $2 }'; }

id=$(new_sandbox)
out=$(run_attack "$id" 2>&1)
if [ "$(result "$out" getpid)" = OK ]; then ok "the attack runs in the sandbox under the filter"; else
  fail "the attack runs"; diag "$out"; fi

for p in "${probes[@]}"; do
  name=${p% *} want=${p#* }
  got=$(result "$out" "$name")
  case $got in
    SKIP*) skip "$name: $want" "${got#SKIP}" ;;
    "$want") ok "$name: $want" ;;
    *) fail "$name: $want, got '${got:-nothing}'" ;;
  esac
done

check "one filter, no_new_privs" \
  sh -c "'$FK' exec $id -- grep -q 'Seccomp_filters:.1$' /proc/self/status && '$FK' exec $id -- grep -q 'NoNewPrivs:.1' /proc/self/status"

# --seccomp-allow ptrace: the filter lets it through, the kernel answers (no such process).
allowed=$(new_sandbox --seccomp-allow ptrace)
got=$(result "$(run_attack "$allowed" ptrace_attach_nopid 2>&1)" ptrace_attach_nopid)
if [ "$got" = ESRCH ]; then ok "--seccomp-allow ptrace: past the filter, the kernel answers ESRCH"; else
  fail "--seccomp-allow ptrace: got '$got'"; fi
got=$(result "$(run_attack "$allowed" kcmp 2>&1)" kcmp)
if [ "$got" = EPERM ]; then ok "--seccomp-allow ptrace allows ptrace only (kcmp still EPERM)"; else
  fail "--seccomp-allow ptrace: kcmp got '$got'"; fi
"$FK" rm -f "$allowed" >/dev/null

# --seccomp unconfined: no filter at all.
free_sb=$(new_sandbox --seccomp unconfined)
out=$(run_attack "$free_sb" personality_read_implies_exec 2>&1)
if "$FK" exec "$free_sb" -- grep -q 'Seccomp:.0' /proc/self/status \
  && [ "$(result "$out" personality_read_implies_exec)" = OK ]; then
  ok "--seccomp unconfined: no filter, personality(READ_IMPLIES_EXEC) works"
else fail "--seccomp unconfined"; diag "$out"; fi
"$FK" rm -f "$free_sb" >/dev/null

# An unknown name is an error naming it, before any sandbox exists.
out=$("$FK" create --rootfs "$rootfs" --seccomp-allow nosuchcall 2>&1)
rc=$?
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "unknown syscall \`nosuchcall'"; then
  ok "--seccomp-allow nosuchcall: a clear error"
else fail "--seccomp-allow nosuchcall: rc $rc"; diag "$out"; fi
out=$("$FK" create --rootfs "$rootfs" --seccomp-deny nosuchcall 2>&1)
rc=$?
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "unknown syscall \`nosuchcall'"; then
  ok "--seccomp-deny nosuchcall: a clear error"
else fail "--seccomp-deny nosuchcall: rc $rc"; diag "$out"; fi

"$FK" rm -f "$id" >/dev/null
done_testing
