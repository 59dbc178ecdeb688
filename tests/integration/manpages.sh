#!/usr/bin/env bash
# The man pages (man/*.scd) and the shell completions (completions/) against what the programs
# say of themselves: a verb `fk --help' lists with no page, a page whose synopsis is not the
# usage `--help' prints, or an option `--help' lists that the page or the completion leaves
# out, fails here.
#
# The rules, strict on purpose:
#
# - Help text. A program's help is the stdout of `PROG --help' when it exits 0, else of
#   `PROG -h' when that exits 0 (some verbs take -h only: a diagnostic says so); when neither
#   exits 0, the program's page fails. Programs: fk, `fk VERB' for every VERB `fk --help'
#   lists (the lines of its "verbs" list), `fk VERB SUB' for every SUB a verb's help lists
#   under "subcommands:", fkd.
# - Usage forms. A help's usage forms start at the line `usage: ...'. A following line whose
#   text starts with the program's name (`fk ', `fkd ') is another form; one that starts with
#   `[' continues the form before it; any other line ends the usage. A trailing note set off
#   by two or more spaces and starting with `(' is not part of a form. Whitespace runs are
#   one space.
# - Synopsis. A page's synopsis forms are the paragraphs (blank-line separated) of its
#   `# SYNOPSIS' section in the .scd source, with scdoc's markup taken away: `*' (bold), `_'
#   at the edge of a word (underline), `++' (line break), `\' escapes; whitespace runs are one
#   space. They must equal, in order, the usage forms of the page's program followed by those
#   of its subcommands (a form already seen is not repeated).
# - Options. The options of a help are the tokens `--name' and `-x' (one letter) that start a
#   word (after a space, `[', `(', `|' or `,') in its usage forms, and the one that starts a
#   line of the help (its option list: `  --env K=V  ...'), the lines of a verb or subcommand
#   list left out; an option named in the middle of a description is not one. Each must
#   appear as a whole word in the page's `# OPTIONS' section (its `##' subsections
#   included), and among the completions bash offers after `fk VERB -' or `fk VERB SUB -'.
# - Pages. fk(1) is fk's page, fk-VERB(1) the page of `fk VERB' (and of its subcommands),
#   fkd(8) fkd's. A man/fk-*.1.scd page with no verb fails too, as does a page meson does not
#   build (when scdoc is there).
# - Rendering. Every built page renders with `man --warnings -l' and `groff -man -ww' (when
#   installed) with nothing on stderr.
# - Completion. bash, with fk.bash sourced in a non-interactive shell and its function run on
#   COMP_WORDS/COMP_CWORD as bash's completion runs it: `fk cr' gives `create' alone, `fk '
#   every verb of `fk --help', `fk exec --' every long option of exec's help; template ids come
#   from `fk template ls' (a record in the state dir), sandbox ids from `fk ls -q' (a real
#   sandbox, as root). zsh: `zsh -n completions/_fk' when zsh is installed.
. "$(dirname "$0")/lib.sh"

src=$FIRKIN_SRC
build=${FIRKIN_BUILD:-}
FKD=${FKD:-}
if [ ! -x "${FK:-}" ]; then
  echo "1..0 # SKIP fk is not built"
  exit 0
fi
work=$(mktemp -d /tmp/fk-manpages.XXXXXX)
on_exit "rm -rf '$work'"

# help_of OUT PROG ARGS...: the help text of PROG ARGS into OUT (see the rules); 1 if none.
help_of() {
  local out=$1
  shift
  if "$@" --help >"$out" 2>/dev/null; then return 0; fi
  if "$@" -h >"$out" 2>/dev/null; then
    local w=("$@")
    w[0]=$(basename "$1")
    echo "${w[*]} --help exits non-zero; -h used" >>"$work/notes"
    return 0
  fi
  return 1
}

# The verbs fk --help lists.
help_of "$work/fk.help" "$FK" || { echo "not ok 1 - fk --help exits 0"; echo "1..1"; exit 1; }
mapfile -t verbs < <(awk '/^verbs/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' "$work/fk.help")
[ ${#verbs[@]} -gt 0 ] || { echo "not ok 1 - fk --help lists verbs"; echo "1..1"; exit 1; }

# One help directory per page: NAME.help (the program's), NAME.sub.K.SUB.help (a subcommand's,
# K its rank in the list, from 11).
mkdir -p "$work/help"
cp "$work/fk.help" "$work/help/fk.help"
missing_help=""
for v in "${verbs[@]}"; do
  if ! help_of "$work/help/fk-$v.help" "$FK" "$v"; then
    missing_help="$missing_help fk-$v"
    continue
  fi
  k=10
  for s in $(awk '/^subcommands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' \
    "$work/help/fk-$v.help"); do
    k=$((k + 1))
    help_of "$work/help/fk-$v.sub.$k.$s.help" "$FK" "$v" "$s" || missing_help="$missing_help fk-$v-$s"
  done
done
if [ -n "$FKD" ] && [ -x "$FKD" ]; then
  help_of "$work/help/fkd.help" "$FKD" || missing_help="$missing_help fkd"
fi

pages=(fk $(printf 'fk-%s\n' "${verbs[@]}"))
[ -n "$FKD" ] && [ -x "$FKD" ] && pages+=(fkd)
# Per page: the source check; then stale pages, the pages rendered, five bash checks, zsh.
plan $((${#pages[@]} + 1 + 1 + 5 + 1))

if [ -n "$missing_help" ]; then
  diag "no help (neither --help nor -h exits 0):$missing_help"
fi
[ -f "$work/notes" ] && diag "$(cat "$work/notes")"

# check_page NAME SECTION: the page's source against its program's help; prints the problems.
cat >"$work/check.py" <<'EOF'
import os, re, sys

helpdir, scd, prog = sys.argv[1], sys.argv[2], sys.argv[3]
name = os.path.basename(scd).rsplit('.', 2)[0]

def usage_forms(text):
    forms, on = [], False
    for line in text.splitlines():
        s = line.strip()
        if not on:
            if s.startswith('usage: '):
                forms.append(s[len('usage: '):])
                on = True
            continue
        if s == prog or s.startswith(prog + ' '):
            forms.append(s)
        elif s.startswith('['):
            forms[-1] += ' ' + s
        else:
            break
    out = []
    for f in forms:
        f = re.sub(r'\s{2,}\(.*$', '', f)
        out.append(' '.join(f.split()))
    return out

OPT = r'(--[a-z][a-z0-9-]*|-[A-Za-z](?![\w-]))'

def options(text):
    opts, listing = [], False
    words = ' '.join(usage_forms(text))
    found = [m.group(1) for m in re.finditer(r'(?:^|(?<=[\s\[(|,]))' + OPT, words)]
    for line in text.splitlines():
        if re.match(r'^(verbs|subcommands)\b.*:$', line):
            listing = True
            continue
        if listing:
            if line.strip() == '':
                listing = False
            continue
        m = re.match(r'^\s*' + OPT, line)
        if m:
            found.append(m.group(1))
    for o in found:
        if o not in opts:
            opts.append(o)
    return opts

def unmark(s):
    s = s.replace('++', ' ')
    s = re.sub(r'(?<!\\)\*', '', s)
    s = re.sub(r'(?<![\\A-Za-z0-9])_|(?<!\\)_(?![A-Za-z0-9])', '', s)
    s = re.sub(r'\\(.)', r'\1', s)
    return s

def section(src, title):
    m = re.search(r'^# ' + title + r'\s*$(.*?)(?=^# |\Z)', src, re.M | re.S)
    return m.group(1) if m else None

problems = []
helps = [os.path.join(helpdir, name + '.help')]
helps += sorted(os.path.join(helpdir, f) for f in os.listdir(helpdir)
                if f.startswith(name + '.sub.') and f.endswith('.help'))
want, opts = [], []
for h in helps:
    text = open(h).read()
    forms = usage_forms(text)
    if not forms:
        problems.append('%s prints no usage line' % os.path.basename(h)[:-5].replace('.sub.', ' '))
    for f in forms:
        if f not in want:
            want.append(f)
    for o in options(text):
        if o not in opts:
            opts.append(o)

src = open(scd).read()
syn = section(src, 'SYNOPSIS')
if syn is None:
    problems.append('no SYNOPSIS section')
else:
    got = [' '.join(unmark(p).split()) for p in re.split(r'\n\s*\n', syn) if p.strip()]
    if got != want:
        problems.append('SYNOPSIS is not the usage of --help:')
        problems += ['  page: ' + g for g in got] + ['  help: ' + w for w in want]
optsec = section(src, 'OPTIONS')
if optsec is None:
    problems.append('no OPTIONS section')
else:
    text = unmark(optsec)
    for o in opts:
        if not re.search(r'(?<![\w-])' + re.escape(o) + r'(?![\w-])', text):
            problems.append('option %s of --help is not in OPTIONS' % o)
for p in problems:
    print(p)
print('#options ' + ' '.join(opts), file=sys.stderr)
EOF

declare -A page_opts
for p in "${pages[@]}"; do
  if [ "$p" = fkd ]; then section=8 prog=fkd; else section=1 prog=fk; fi
  scd=$src/man/$p.$section.scd
  if [ ! -f "$scd" ]; then
    fail "$p($section) exists (man/$p.$section.scd)"
    continue
  fi
  if [ ! -f "$work/help/$p.help" ]; then
    fail "$p($section): its program prints a help"
    continue
  fi
  out=$(python3 "$work/check.py" "$work/help" "$scd" "$prog" 2>"$work/opts")
  page_opts[$p]=$(sed -n 's/^#options //p' "$work/opts")
  if [ -z "$out" ]; then
    n=$(wc -w <<<"${page_opts[$p]}")
    ok "$p($section): SYNOPSIS is the usage of --help; OPTIONS has its $n option(s)"
  else
    fail "$p($section) matches --help"
    diag "$out"
  fi
done

# Pages with no program: a verb gone or renamed leaves its page behind.
stale=""
for f in "$src"/man/fk-*.1.scd; do
  v=$(basename "$f" .1.scd)
  v=${v#fk-}
  [[ " ${verbs[*]} " == *" $v "* ]] || stale="$stale $(basename "$f")"
done
if [ -z "$stale" ]; then ok "every man/fk-*.1.scd page is a verb's"; else fail "pages of no verb:$stale"; fi

# The built pages: every source is built, and renders without a warning.
if [ -z "$build" ] || [ ! -d "$build" ]; then
  skip "the built pages render" "no build directory"
elif ! ls "$build"/man/*.[18] >/dev/null 2>&1; then
  skip "the built pages render" "scdoc was not found when the build was configured: no page is built"
elif ! command -v man >/dev/null && ! command -v groff >/dev/null; then
  skip "the built pages render" "neither man nor groff is installed"
else
  bad=""
  n=0
  for f in "$src"/man/*.scd; do
    page=$build/man/$(basename "$f" .scd)
    if [ ! -f "$page" ]; then
      bad="$bad
$(basename "$f"): not built (is it in man/meson.build?)"
      continue
    fi
    n=$((n + 1))
    warn=""
    if command -v man >/dev/null; then
      warn=$(MANWIDTH=80 man --warnings -l -Tutf8 "$page" 2>&1 >/dev/null)
    fi
    if command -v groff >/dev/null; then
      warn="$warn$(groff -man -Tutf8 -ww -z "$page" 2>&1)"
    fi
    [ -z "$warn" ] || bad="$bad
$(basename "$page"): $warn"
  done
  if [ -z "$bad" ]; then ok "the $n built pages render without warnings ($(command -v man >/dev/null && echo 'man -l')$(command -v groff >/dev/null && echo ', groff -ww'))"
  else fail "the built pages render without warnings"; diag "$bad"; fi
fi

# bash completion, driven as bash's completion drives it.
complete_fk() {
  # complete_fk WORD...: what the completion offers for the last WORD, one a line.
  FK_DIR=$(dirname "$FK") bash -c '
    PATH=$FK_DIR:$PATH
    . "$1/completions/fk.bash" || exit 1
    complete -p fk >/dev/null || exit 1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _fk fk "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' complete_fk "$src" "$@"
}
complete_subcommands() {
  bash -c '. "$1/completions/fk.bash" && _fk_subcommands "$2"' complete_subcommands "$src" "$1"
}
if ! command -v bash >/dev/null; then
  for i in 1 2 3 4 5; do skip "bash completion $i" "no bash"; done
else
  got=$(complete_fk fk cr)
  if [ "$got" = create ]; then ok "bash: fk cr<TAB> completes to create"
  else fail "bash: fk cr<TAB> completes to create"; diag "got: $got"; fi

  got=$(complete_fk fk "" | sort | tr '\n' ' ')
  want=$(printf '%s\n' "${verbs[@]}" | sort | tr '\n' ' ')
  if [ "$got" = "$want" ]; then ok "bash: fk <TAB> offers the ${#verbs[@]} verbs of fk --help"
  else fail "bash: fk <TAB> offers the verbs of fk --help"; diag "got:  $got"; diag "want: $want"; fi

  # Every option of a verb's help and of its subcommands' helps is offered after the verb or
  # after one of its subcommands (template's are usage lines: prepare's options go with it).
  bad=""
  for p in "${pages[@]}"; do
    [ "$p" = fkd ] && continue
    v=${p#fk-}
    [ "$p" = fk ] && v=""
    offered=" $(complete_fk fk $v - | tr '\n' ' ') "
    if [ -n "$v" ]; then
      for s in $(complete_subcommands "$v"); do
        offered="$offered $(complete_fk fk "$v" "$s" - | tr '\n' ' ') "
      done
    fi
    for o in ${page_opts[$p]:-}; do
      [[ $offered == *" $o "* ]] || bad="$bad fk $v: $o;"
    done
  done
  got=$(complete_fk fk exec -- | sort | tr '\n' ' ')
  want_exec=$(tr ' ' '\n' <<<"${page_opts[fk-exec]:-}" | grep -- '^--' | sort | tr '\n' ' ')
  for o in $want_exec; do
    [[ " $got " == *" $o "* ]] || bad="$bad fk exec --<TAB>: $o;"
  done
  if [ -z "$bad" ]; then ok "bash: fk VERB -<TAB> offers every option of its --help (fk exec --<TAB>: $got)"
  else fail "bash: fk VERB -<TAB> offers every option of its --help"; diag "missing:$bad"; fi

  # Template ids from `fk template ls' (a record that does not load is listed by id too).
  tstate=$work/tstate
  mkdir -p "$tstate/templates"
  echo '{}' >"$tstate/templates/mantest-tpl.json"
  got=$(complete_fk fk --state-dir "$tstate" create mant)
  got_run=$(complete_fk fk --state-dir "$tstate" run --memory 1G mant)
  if [ "$got" = mantest-tpl ] && [ "$got_run" = mantest-tpl ]; then
    ok "bash: fk create/run <TAB> offer the template ids of fk template ls (--state-dir followed)"
  else
    fail "bash: fk create/run <TAB> offer template ids"
    diag "create: $got"; diag "run: $got_run"; diag "fk template ls: $("$FK" --state-dir "$tstate" template ls 2>&1)"
  fi

  # Sandbox ids from `fk ls -q': a real sandbox (root only).
  if [ "$(id -u)" -ne 0 ]; then
    skip "bash: sandbox ids" "sandboxes need root"
  elif ! "$src/scripts/busybox-rootfs.sh" "$work/rootfs" >/dev/null 2>&1; then
    skip "bash: sandbox ids" "no busybox root"
  elif ! id=$("$FK" create --rootfs "$work/rootfs" --timeout 120 2>"$work/create.err"); then
    fail "bash: sandbox ids (fk create failed)"
    diag "$(cat "$work/create.err")"
  else
    on_exit "'$FK' rm -f '$id'"
    bad=""
    for w in "exec" "inspect" "rm -f" "stop" "pause" "pause --to-disk" "resume" "extend" "port" \
      "shell" "snapshot" "snapshot --id x" "fork" "fork --count 2"; do
      # shellcheck disable=SC2086
      got=$(complete_fk fk $w "${id:0:3}")
      [ "$got" = "$id" ] || bad="$bad fk $w: [$got];"
    done
    got=$(complete_fk fk cp "${id:0:3}" | head -1)
    [ "$got" = "$id:" ] || bad="$bad fk cp: [$got];"
    got=$(complete_fk fk exec "$id" -- "")
    [ -z "$got" ] || bad="$bad fk exec ID -- <TAB> offers [$got];"
    got=$(complete_fk fk port "$id" "")
    [ -z "$got" ] || bad="$bad fk port ID <TAB> (a port) offers [$got];"
    if [ -z "$bad" ]; then ok "bash: the verbs that take a sandbox offer the ids of fk ls -q"
    else fail "bash: sandbox ids"; diag "$bad"; fi
  fi
fi

if command -v zsh >/dev/null; then
  check "zsh -n completions/_fk" zsh -n "$src/completions/_fk"
else
  skip "zsh -n completions/_fk" "zsh is not installed"
fi
done_testing
