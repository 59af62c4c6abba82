package ndb_redis

import "errors"

// format splits a command as hiredis's redisvFormatCommand does: at
// spaces, "%s" replaced by the next parameter (within the argument it
// is in; an empty one is still an argument), "%%" a '%'.
func format(cmd string, params []string) ([]string, error) {
	var args []string
	var cur []byte
	touched := false
	p := 0
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		switch {
		case ch == ' ':
			if touched {
				args = append(args, string(cur))
				cur, touched = cur[:0], false
			}
		case ch == '%' && i+1 < len(cmd):
			i++
			switch cmd[i] {
			case 's', 'b':
				if p >= len(params) {
					return nil, errors.New("more %s than parameters")
				}
				cur = append(cur, params[p]...)
				p++
			case '%':
				cur = append(cur, '%')
			default:
				cur = append(cur, '%', cmd[i])
			}
			touched = true
		default:
			cur = append(cur, ch)
			touched = true
		}
	}
	if touched {
		args = append(args, string(cur))
	}
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}
