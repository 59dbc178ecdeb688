#!/usr/bin/env bash
# fk create/run --spec FILE: a sandbox spec as JSON (the spec codec's form, docs/sandbox.md), read
# from a file or stdin, with the other options overriding it wherever they are; a bad spec is
# refused naming the field, and nothing is created.
source "$FIRKIN_SRC/tests/integration/lib.sh"
source "$FIRKIN_SRC/tests/integration/sandbox_lib.sh"
plan 8

dir=$(mktemp -d /tmp/firkin-spec.XXXXXX)
on_exit "rm -rf '$dir'"
cat > "$dir/spec.json" <<JSON
{
  "layers": ["$rootfs"],
  "resources": {"memory_bytes": 268435456, "pids": 64},
  "env": ["FROM_FILE=1", "X=file"],
  "workdir": "/tmp",
  "hostname": "specbox",
  "metadata": ["origin=file"]
}
JSON

# limit ID NAME: a limit as fk inspect shows it.
limit() { "$FK" inspect "$1" | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p"; }

id=$("$FK" create --spec "$dir/spec.json")
out=$("$FK" exec "$id" -- sh -c 'echo $FROM_FILE $X $(hostname) $(pwd)')
check "the file's limits, env, workdir, host name and metadata ($out)" \
  sh -c "[ '$out' = '1 file specbox /tmp' ] && [ '$(limit "$id" pids) $(limit "$id" memory)' = '64 268435456' ] && '$FK' inspect $id | grep -q '\"origin\": \"file\"'"
"$FK" rm -f "$id" >/dev/null

# Options before and after --spec override it; list options add to its lists.
id=$("$FK" create --pids 100 --spec "$dir/spec.json" --hostname flagbox --env X=flag --metadata more=1)
out=$("$FK" exec "$id" -- sh -c 'echo $FROM_FILE $X $(hostname)')
check "options override the file wherever they are, and add to its lists ($out)" \
  sh -c "[ '$out' = '1 flag flagbox' ] && [ '$(limit "$id" pids)' = 100 ] && [ '$(limit "$id" memory)' = 268435456 ] && '$FK' inspect $id | grep -q '\"more\": \"1\"' && '$FK' inspect $id | grep -q '\"origin\": \"file\"'"
"$FK" rm -f "$id" >/dev/null

id=$("$FK" create --spec - < "$dir/spec.json")
check "--spec - reads stdin" sh -c "[ \"\$('$FK' exec $id -- hostname)\" = specbox ]"
"$FK" rm -f "$id" >/dev/null

check "fk run --spec: the file's sandbox runs the command" \
  sh -c "[ \"\$('$FK' run --spec '$dir/spec.json' -- sh -c 'echo \$X \$(hostname)')\" = 'file specbox' ]"

# Refused, naming the field, with nothing created.
refused() { # FILE-TEXT WANT
  printf '%s' "$1" > "$dir/bad.json"
  local out
  out=$("$FK" create --spec "$dir/bad.json" 2>&1)
  [ $? = 2 ] && printf '%s' "$out" | grep -qF -- "$2" && [ -z "$("$FK" ls -q)" ] || { echo "$out"; return 1; }
}
check "an unknown field is refused" refused '{"layers": ["/x"], "resources": {"memroy": 1}}' "unknown field \`resources.memroy'"
check "a wrong type is refused" refused '{"layers": "/x"}' "\`layers' must be an array of strings or null"
check "an unknown syscall is refused" refused '{"seccomp": {"deny": ["nope"]}}' "unknown syscall \`nope'"
check "a missing file, and --spec twice, are refused" \
  sh -c "'$FK' create --spec '$dir/none.json' 2>&1 | grep -q 'none.json: open' && '$FK' create --spec '$dir/spec.json' --spec '$dir/spec.json' 2>&1 | grep -q 'given twice' && [ -z \"\$('$FK' ls -q)\" ]"
done_testing
