// Command kemi is a SIP proxy whose routing is a script in the language
// the config picks (cfgengine), with Kamailio's command line.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/kemi-sip/kemi/core/router"
)

var version = router.Version

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sig))
}

const usage = `Usage: kemi [options]
       kemi db init DBURL | kemi db add-user DBURL user@domain PASSWORD
       kemi rpc [-s ADDRESS] METHOD [PARAMS...]   (kemi rpc -h)
  -f FILE      config file (default: the embedded config, 127.0.0.1:5060)
  -A NAME[=V]  #!define NAME (with value V) before reading the config
  -c           check the config (modules, parameters, script) and exit
  -l ADDR      listen on ADDR ([proto:]host[:port]); repeat for more; replaces listen=
  -n N         children (workers per UDP socket)
  -d           more verbose (repeat: -dd, -ddd)
  -E           log to stderr (kemi always does)
  -e           colour the log level
  -D, -DD      stay in the foreground (kemi never forks)
  -L DIR       module path (accepted: modules are built in)
  -Y DIR       runtime directory
  -P FILE      write the process id to FILE
  -w DIR       change to DIR before reading the config
  -m N, -M N   memory sizes (accepted and ignored: Go manages memory)
  -V, -v       print the version and exit
  -h           this help
  -api-list    print the KEMI functions of the config's modules as JSON and exit
`

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	if len(args) > 0 && args[0] == "db" {
		return dbCommand(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rpc" {
		return rpcCommand(args[1:], stdout, stderr)
	}
	o := &options{defines: map[string]string{}, level: &slog.LevelVar{}}
	var check, apiList, color bool
	var pidFile string
	fail := func(f string, a ...any) int {
		fmt.Fprintf(stderr, "kemi: "+f+"\n", a...)
		return 2
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() (string, bool) {
			if i+1 >= len(args) {
				return "", false
			}
			i++
			return args[i], true
		}
		switch a {
		case "-f", "-A", "-l", "-n", "-L", "-Y", "-P", "-w", "-m", "-M":
			v, ok := val()
			if !ok {
				return fail("%s needs a value", a)
			}
			switch a {
			case "-f":
				o.cfgFile = v
			case "-A":
				name, value, _ := strings.Cut(v, "=")
				o.defines[name] = value
			case "-l":
				o.listen = append(o.listen, v)
			case "-n":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return fail("-n %q: wants a number of children", v)
				}
				o.children = n
			case "-P":
				pidFile = v
			case "-w":
				if err := os.Chdir(v); err != nil {
					return fail("-w: %v", err)
				}
			case "-m", "-M":
				fmt.Fprintf(stderr, "kemi: %s %s ignored: memory is managed by the Go runtime\n", a, v)
			}
		case "-c":
			check = true
		case "-E", "-D", "-DD", "-DDD":
		case "-e":
			color = true
		case "-V", "-v", "--version":
			fmt.Fprintln(stdout, version)
			return 0
		case "-h", "--help", "-help":
			fmt.Fprint(stdout, usage)
			return 0
		case "-api-list", "--api-list":
			apiList = true
		default:
			if len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "d") == "" {
				o.debug += len(a) - 1
				continue
			}
			return fail("unknown option %q (kemi -h lists them)", a)
		}
	}
	o.log = slog.New(newLogHandler(stderr, o.level, "", color))
	slog.SetDefault(o.log)

	if check || apiList {
		l, err := load(o)
		if err != nil {
			fmt.Fprintln(stderr, "kemi: "+err.Error())
			return 1
		}
		if apiList {
			b, err := l.Table.APIListJSON()
			if err != nil {
				fmt.Fprintln(stderr, "kemi: "+err.Error())
				return 1
			}
			stdout.Write(append(b, '\n'))
			return 0
		}
		fmt.Fprintln(stdout, "config file ok, exiting...")
		return 0
	}

	s, err := start(o)
	if err != nil {
		fmt.Fprintln(stderr, "kemi: "+err.Error())
		return 1
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			o.log.Warn("pid file: " + err.Error())
		}
		defer os.Remove(pidFile)
	}
	o.log.Info(version + " started")
	sg := <-stop
	o.log.Info("stopping on " + sg.String())
	s.Stop()
	return 0
}
