#!/bin/sh
# A MultiLang record processor in POSIX sh, for kcl/tests/multilang.rs. It appends what it
# is sent to files in $ML_OUT (SHARD.records: every processRecords line; SHARD.log: the
# other actions and checkpoint answers), checkpoints (at the last record) after every batch,
# at shard end and on shutdown, and answers each action with its status. With ML_DIE_ONCE
# set, the first child to get records (mkdir of that path succeeds) exits 3 without
# answering, as a crashing processor would.
shard=unknown
while IFS= read -r line; do
    action=$(printf '%s\n' "$line" | sed -n 's/^{"action":"\([A-Za-z]*\)".*/\1/p')
    case "$action" in
    initialize)
        shard=$(printf '%s\n' "$line" | sed -n 's/.*"shardId":"\([^"]*\)".*/\1/p')
        printf '%s\n' "$line" >>"$ML_OUT/$shard.log"
        ;;
    processRecords)
        if [ -n "$ML_DIE_ONCE" ] && mkdir "$ML_DIE_ONCE" 2>/dev/null; then
            echo "child.sh: dying on purpose ($shard)" >&2
            exit 3
        fi
        printf '%s\n' "$line" >>"$ML_OUT/$shard.records"
        # As the libraries do: a blank line around each message.
        printf '\n{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}\n'
        IFS= read -r answer
        printf 'batch %s\n' "$answer" >>"$ML_OUT/$shard.log"
        ;;
    shardEnded | shutdownRequested)
        echo "not json: a stray print the daemon must skip"
        printf '{"action":"checkpoint"}\n'
        IFS= read -r answer
        printf '%s %s\n' "$action" "$answer" >>"$ML_OUT/$shard.log"
        ;;
    leaseLost)
        printf '{"action":"checkpoint"}\n'
        IFS= read -r answer
        printf 'leaseLost %s\n' "$answer" >>"$ML_OUT/$shard.log"
        ;;
    esac
    printf '{"action":"status","responseFor":"%s"}\n' "$action"
done
printf 'exit\n' >>"$ML_OUT/$shard.log"
