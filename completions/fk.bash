# bash completion for fk(1): verbs, each verb's options, sandbox ids (fk ls -q) and template
# ids (fk template ls) where a verb takes one, files and directories where an option names one.
# Installed as bash-completion/completions/fk; works without the bash-completion package too.

_fk_verbs="bench layer template image create exec cp run ls inspect stop pause resume snapshot fork rm extend network port shell"

# The options of a verb (or "VERB SUB"): those that take a value, then ";", then the others.
_fk_options()
{
  case "$1" in
    create | run)
      echo "--memory --cpus --pids --disk --env --timeout --rootfs --metadata --hostname" \
        "--workdir --user --seccomp --seccomp-deny --seccomp-allow --agent --spec --network" \
        "--allow-out --deny-out --egress-rate --max-connections;-h --help" ;;
    network) echo "--allow-out --deny-out;-h --help" ;;
    exec) echo "--env --cwd --user --timeout;-i -t --interactive --tty -h --help" ;;
    cp | inspect | resume | extend) echo ";-h" ;;
    pause) echo ";--to-disk -h" ;;
    snapshot) echo "--id;-h --help" ;;
    fork) echo "--count;-h --help" ;;
    ls) echo ";-q -h" ;;
    stop) echo "-t;-h" ;;
    rm) echo ";-f -h" ;;
    port) echo "--listen;--once -h --help" ;;
    shell)
      echo "-c --pool --env --cwd --user --program --timeout --stdin;--status -h --help" ;;
    template) echo "-f -t --build-arg --start-cmd --ready-cmd --ready-timeout;-h --help" ;;
    "template prepare") echo "--id --platform;-q --quiet -h --help" ;;
    "template build") echo "-f -t --build-arg --start-cmd --ready-cmd --ready-timeout;-q --quiet -h --help" ;;
    image) echo ";--help" ;;
    layer) echo ";-h --help" ;;
    "layer apply") echo "--max-size;--ignore-owners --user-xattrs -h --help" ;;
    bench) echo ";-h --help" ;;
    "bench report") echo ";-h --help" ;;
    "bench trace-demo") echo "--artifact --repeats --levels;-h --help" ;;
    "bench shell-pool-density")
      echo "--artifact --repeats --levels --image --template --rootfs --peer-artifact;" \
        "--wide --no-peer -h --help" ;;
    "bench agent-core")
      echo "--artifact --iterations --batches --repeats --rootfs --refill-delay;-h --help" ;;
    "bench sandbox")
      echo "--only --runs --exec-runs --warmup --idle --rootfs --artifact-dir;--no-peers -h --help" ;;
    "bench fkd")
      echo "--artifact --template --iterations --creates --levels --repeats --warm-depth" \
        "--fkd --node --sdk --script;-h --help" ;;
    *) echo ";" ;;
  esac
}

_fk_subcommands()
{
  case "$1" in
    template) echo "prepare ls inspect rm" ;;
    image) echo "prune" ;;
    layer) echo "apply" ;;
    bench) echo "report trace-demo shell-pool-density agent-core sandbox fkd" ;;
  esac
}

# Sandbox and template ids, asked of fk with the global options typed so far.
_fk_sandbox_ids()
{
  "${_fk_cmd[@]}" ls -q 2>/dev/null
}

_fk_template_ids()
{
  "${_fk_cmd[@]}" template ls 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_fk_files()
{
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$1"))
}

_fk_dirs()
{
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -d -- "$1"))
}

# The value of option $2 of verb $1, being typed as $3; 0 when it completed something.
_fk_value()
{
  case "$2" in
    --state-dir | --rootfs | --cwd | --workdir | --artifact-dir | --sdk) _fk_dirs "$3" ;;
    --spec | --agent | --stdin | --artifact | --peer-artifact | --fkd | --node | --script) _fk_files "$3" ;;
    --log-level) COMPREPLY=($(compgen -W "error warning info debug" -- "$3")) ;;
    --seccomp) COMPREPLY=($(compgen -W "default unconfined" -- "$3")) ;;
    --only) COMPREPLY=($(compgen -W "create exec idle" -- "$3")) ;;
    --template) COMPREPLY=($(compgen -W "$(_fk_template_ids)" -- "$3")) ;;
    *) COMPREPLY=() ;;
  esac
}

_fk()
{
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local i=1 verb="" vpos=0 sub=""
  local -a _fk_cmd=("${COMP_WORDS[0]}")

  # The global options, up to the verb.
  while [ "$i" -lt "$COMP_CWORD" ]; do
    case "${COMP_WORDS[i]}" in
      --state-dir | --log-level | --remote | --remote-envd | --oci-root)
        _fk_cmd+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}")
        i=$((i + 2))
        ;;
      --state-dir=* | --log-level=* | --remote=* | --remote-envd=* | --oci-root=*)
        _fk_cmd+=("${COMP_WORDS[i]}")
        i=$((i + 1))
        ;;
      -*) i=$((i + 1)) ;;
      *)
        verb=${COMP_WORDS[i]}
        vpos=$i
        break
        ;;
    esac
  done
  if [ -z "$verb" ]; then
    case "$prev" in
      --state-dir | --oci-root) _fk_dirs "$cur"; return 0 ;;
      --log-level) _fk_value fk "$prev" "$cur"; return 0 ;;
      --remote | --remote-envd) COMPREPLY=(); return 0 ;;
    esac
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--state-dir --log-level --remote --remote-envd --oci-root --version --help" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$_fk_verbs" -- "$cur"))
    fi
    return 0
  fi

  # The subcommand of template, image, layer and bench.
  i=$((i + 1))
  local subs
  subs=$(_fk_subcommands "$verb")
  if [ -n "$subs" ]; then
    while [ "$i" -lt "$COMP_CWORD" ] && [[ ${COMP_WORDS[i]} == -* ]]; do i=$((i + 1)); done
    if [ "$i" -eq "$COMP_CWORD" ] && [[ $cur != -* ]]; then
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
      return 0
    fi
    if [ "$i" -lt "$COMP_CWORD" ]; then
      sub=${COMP_WORDS[i]}
      i=$((i + 1))
    fi
  fi

  local key=$verb${sub:+ $sub} opts
  opts=$(_fk_options "$key")
  local valued=${opts%%;*} flags=${opts#*;}

  # The operands typed so far (after the verb and its subcommand), the options and their values
  # left out; after `--' the rest is a command for the sandbox.
  local n=0 dashdash=0 w
  while [ "$i" -lt "$COMP_CWORD" ]; do
    w=${COMP_WORDS[i]}
    if [ "$w" = "--" ]; then
      dashdash=1
      break
    elif [[ " $valued " == *" $w "* ]]; then
      i=$((i + 1))
    elif [[ $w != -* ]]; then
      n=$((n + 1))
    fi
    i=$((i + 1))
  done
  [ "$dashdash" -eq 1 ] && return 0

  if [[ " $valued " == *" $prev "* ]]; then
    _fk_value "$key" "$prev" "$cur"
    return 0
  fi
  if [[ $cur == -* ]]; then
    # fk pause takes --to-disk first only: after it, a word is an id.
    [ "$key" = pause ] && [ "$COMP_CWORD" -ne $((vpos + 1)) ] && flags=${flags/--to-disk/}
    COMPREPLY=($(compgen -W "$valued $flags" -- "$cur"))
    return 0
  fi

  case "$key" in
    create | run)
      [ "$n" -eq 0 ] && COMPREPLY=($(compgen -W "$(_fk_template_ids)" -- "$cur")) ;;
    exec | inspect | shell | extend | network | port | snapshot | fork)
      [ "$n" -eq 0 ] && COMPREPLY=($(compgen -W "$(_fk_sandbox_ids)" -- "$cur")) ;;
    stop | pause | resume | rm)
      COMPREPLY=($(compgen -W "$(_fk_sandbox_ids)" -- "$cur")) ;;
    cp)
      if [[ $cur == *:* ]]; then
        COMPREPLY=()
      else
        local ids
        ids=$(_fk_sandbox_ids | sed 's/$/:/')
        compopt -o nospace 2>/dev/null
        COMPREPLY=($(compgen -W "$ids" -- "$cur") $(compgen -f -- "$cur"))
      fi
      ;;
    "template inspect" | "template rm")
      [ "$n" -eq 0 ] && COMPREPLY=($(compgen -W "$(_fk_template_ids)" -- "$cur")) ;;
    "template prepare")
      [ "$n" -eq 0 ] && COMPREPLY=($(compgen -W "oci: oci-archive: docker-archive:" -- "$cur")) &&
        compopt -o nospace 2>/dev/null
      ;;
    "layer apply") _fk_files "$cur" ;;
    "bench report") [ "$n" -eq 0 ] && _fk_files "$cur" ;;
  esac
  return 0
}

complete -F _fk fk
