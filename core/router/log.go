package router

import "log/slog"

// Kamailio's log levels in slog terms: DBG, INFO and WARN, ERR are slog's
// own; NOTICE, CRIT and ALERT sit between and above them.
const (
	LevelNotice = slog.Level(2)
	LevelCrit   = slog.Level(12)
	LevelAlert  = slog.Level(16)
)

// ParseLevel maps Kamailio's level names (and their L_ names) to levels.
func ParseLevel(s string) (slog.Level, bool) {
	switch s {
	case "dbg", "debug", "L_DBG":
		return slog.LevelDebug, true
	case "info", "L_INFO":
		return slog.LevelInfo, true
	case "notice", "L_NOTICE":
		return LevelNotice, true
	case "warn", "L_WARN":
		return slog.LevelWarn, true
	case "err", "error", "L_ERR":
		return slog.LevelError, true
	case "crit", "L_CRIT":
		return LevelCrit, true
	case "alert", "L_ALERT":
		return LevelAlert, true
	}
	return 0, false
}

// debugLevels pairs Kamailio's numeric levels (the debug parameter,
// latency_cfg_log) with slog's, most verbose first.
var debugLevels = []struct {
	debug int
	level slog.Level
}{{3, slog.LevelDebug}, {2, slog.LevelInfo}, {1, LevelNotice}, {0, slog.LevelWarn}, {-1, slog.LevelError}, {-2, LevelCrit}}

// LevelFromDebug maps a Kamailio numeric level to a slog level: 3 and up
// debug, 2 info, 1 notice, 0 warn, -1 error, lower crit.
func LevelFromDebug(d int) slog.Level {
	for _, l := range debugLevels {
		if d >= l.debug {
			return l.level
		}
	}
	return LevelCrit
}

// DebugFromLevel is the Kamailio numeric level of the most verbose level
// a logger shows (KSR.get_debug).
func DebugFromLevel(enabled func(slog.Level) bool) int {
	for _, l := range debugLevels {
		if enabled(l.level) {
			return l.debug
		}
	}
	return -3
}
