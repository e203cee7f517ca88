# Sourced by the toolstack's tests that run inside domus-session.
# bus_call METHOD ARGS...: a call to the session bus itself.
bus_call() {
    gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method "org.freedesktop.DBus.$1" "${@:2}"
}
# domusd_stop: ends this session's domusd, found by who owns the toolstack's
# bus name (a domusd of another session, a parallel test's, is left alone),
# and waits until the name is free, so that the next call activates a new one.
domusd_stop() {
    local pid
    pid=$(bus_call GetConnectionUnixProcessID org.domus.Toolstack1 | sed -n 's/.*uint32 \([0-9]*\).*/\1/p')
    [ -n "$pid" ] || return 1
    kill -TERM "$pid" || return 1
    for _ in $(seq 100); do
        [ "$(bus_call NameHasOwner org.domus.Toolstack1)" = "(false,)" ] && return 0
        sleep 0.1
    done
    return 1
}
