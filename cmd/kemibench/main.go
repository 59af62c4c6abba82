// Command kemibench runs Kamailio's interpreter comparison on this
// machine: REGISTER with digest authentication (401 challenge, then 200)
// at a fixed rate, against a kemi proxy per engine or any SIP server, with
// request_route execution times measured inside the proxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `Usage:
  kemibench run [options] [--engine E | --target HOST:PORT --users-file F]
  kemibench compare [options] [--engines native,lua,golua,jsdt,python]
  kemibench pair [options]      kemi and real Kamailio side by side, driven by
                                 sipp at once (kemibench pair -h)
  kemibench users DBURL N FILE   N bench subscribers into DBURL's subscriber
                                 table and FILE (sipp's injection file), for
                                 another server (scripts/kamailio-peer.sh)

REGISTER with digest authentication: each registration is a REGISTER, its
401 challenge, the REGISTER with credentials and its 200. Without --target,
kemibench starts kemi with scripts/bench/kamailio.cfg for each engine (a
child process per engine), subscribers in an SQLite file made for the run,
and reports request_route times measured inside the proxy.

Options:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		newFlags(stderr, &benchOptions{}).PrintDefaults()
		return 2
	}
	switch args[0] {
	case "proxy": // the child side of a run; not for people
		return serveChild(args[1:], stdin, stdout, stderr)
	case "users":
		return usersCommand(ctx, args[1:], stdout, stderr)
	case "pair":
		return pairCommand(ctx, args[1:], stdout, stderr)
	case "run", "compare":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		newFlags(stdout, &benchOptions{}).PrintDefaults()
		return 0
	default:
		fmt.Fprintf(stderr, "kemibench: unknown command %q (run, compare, pair, users)\n", args[0])
		return 2
	}
	o := &benchOptions{compare: args[0] == "compare"}
	fs := newFlags(stderr, o)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kemibench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if !o.compare {
		o.rounds = 1
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(stderr, "kemibench: "+err.Error())
		return 2
	}
	if isTerminal(stderr) && !o.quiet {
		o.progress = stderr
	}
	rep, err := bench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kemibench: "+err.Error())
		return 1
	}
	rep.WriteTable(stdout)
	if o.reportDir != "" {
		files, err := rep.WriteFiles(o.reportDir)
		if err != nil {
			fmt.Fprintln(stderr, "kemibench: "+err.Error())
			return 1
		}
		fmt.Fprintln(stdout, "report: "+strings.Join(files, ", "))
	}
	if rep.Failed() {
		return 3
	}
	return 0
}

// benchOptions are the command line of run and compare.
type benchOptions struct {
	compare   bool
	total     int
	rate      float64
	limit     int
	users     int
	usersFile string
	transport string
	sockets   int
	batch     bool
	timeout   time.Duration
	t1        time.Duration
	engine    string
	engines   string
	rounds    int
	target    string
	routeLog  string
	label     string
	targetPID int
	inProcess bool
	reportDir string
	scripts   string
	max       bool
	hold      time.Duration
	quiet     bool
	progress  io.Writer
}

func newFlags(out io.Writer, o *benchOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("kemibench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&o.total, "m", 1000, "registrations in all (per engine)")
	fs.Float64Var(&o.rate, "r", 50, "new registrations per second")
	fs.IntVar(&o.limit, "l", 0, "registrations in flight at most (0: no limit)")
	fs.IntVar(&o.users, "users", 1000, "distinct users, each with its own Call-ID, CSeq and From tag")
	fs.StringVar(&o.usersFile, "users-file", "", "users as sipp's injection file: user;domain;password per line (with --target)")
	fs.StringVar(&o.transport, "t", "udp", "transport: udp or tcp")
	fs.IntVar(&o.sockets, "sockets", 1, "local UDP sockets the load is spread over")
	fs.BoolVar(&o.batch, "batch", false, "UDP: send requests in batches (sendmmsg), a sender per socket")
	fs.DurationVar(&o.timeout, "timeout", 0, "deadline of a whole run (0: none); what is in flight then fails")
	fs.DurationVar(&o.t1, "t1", 500*time.Millisecond, "RFC 3261 T1: first retransmission; a transaction fails after 64*T1")
	fs.StringVar(&o.engine, "engine", "native", "run: the engine (native, lua, golua, jsdt, python)")
	fs.StringVar(&o.engines, "engines", strings.Join(engineOrder, ","), "compare: the engines, in order")
	fs.IntVar(&o.rounds, "rounds", 2, "compare: rounds the registrations are split over, engines interleaved")
	fs.StringVar(&o.target, "target", "", "run: drive the SIP server at HOST:PORT instead of a kemi of our own")
	fs.StringVar(&o.routeLog, "route-log", "", "run --target: the server's log, to read route times from (\"executed in N usec\" lines, latency_cfg_log)")
	fs.StringVar(&o.label, "label", "", "run --target: the name of the result (default: target HOST:PORT)")
	fs.IntVar(&o.targetPID, "target-pid", 0, "run --target: the server's main process, for its CPU time (it and its children, from /proc)")
	fs.BoolVar(&o.inProcess, "in-process", false, "run the proxies in kemibench's own process (CPU time then includes the load generator)")
	fs.StringVar(&o.reportDir, "report", "", "write the report (Markdown, JSON, SVG) into DIR")
	fs.StringVar(&o.scripts, "scripts", "", "the bench config's folder (default: scripts/bench found from here up)")
	fs.BoolVar(&o.max, "max", false, "search the highest rate held for --hold with no failure and no retransmission")
	fs.DurationVar(&o.hold, "hold", 20*time.Second, "--max: how long each rate must hold")
	fs.BoolVar(&o.quiet, "q", false, "no progress line")
	return fs
}

func (o *benchOptions) check() error {
	switch {
	case o.total <= 0:
		return errors.New("-m: want a positive number of registrations")
	case o.rate <= 0:
		return errors.New("-r: want a positive rate")
	case o.users <= 0 && o.usersFile == "":
		return errors.New("--users: want at least one user")
	case o.transport != "udp" && o.transport != "tcp":
		return fmt.Errorf("-t %q: udp or tcp", o.transport)
	case o.rounds <= 0:
		return errors.New("--rounds: want at least 1")
	case o.t1 <= 0:
		return errors.New("--t1: want a positive duration")
	case o.target != "" && o.compare:
		return errors.New("--target is for run: compare runs kemi's engines")
	case o.target != "" && o.usersFile == "":
		return errors.New("--target needs --users-file (the subscribers the server knows)")
	case o.routeLog != "" && o.target == "":
		return errors.New("--route-log is for --target: kemi's own route times are measured inside")
	case o.max && o.compare:
		return errors.New("--max is for run (one engine or target at a time)")
	}
	for _, e := range o.engineList() {
		if _, ok := engineDefines[e]; !ok {
			return fmt.Errorf("unknown engine %q (native, lua, golua, jsdt, python)", e)
		}
	}
	return nil
}

// engineList is the engines to run, in order.
func (o *benchOptions) engineList() []string {
	if o.target != "" {
		return nil
	}
	if !o.compare {
		return []string{o.engine}
	}
	var es []string
	for _, e := range strings.Split(o.engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			es = append(es, e)
		}
	}
	return es
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// usersCommand is "kemibench users DBURL N FILE".
func usersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprint(stderr, "usage: kemibench users DBURL N FILE\n")
		return 2
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 {
		fmt.Fprintf(stderr, "kemibench users: N %q: want a positive number\n", args[1])
		return 2
	}
	users := makeUsers(n, benchDomain)
	if err := writeSubscribers(ctx, args[0], users); err != nil {
		fmt.Fprintln(stderr, "kemibench users: "+err.Error())
		return 1
	}
	if err := writeUsersFile(args[2], users); err != nil {
		fmt.Fprintln(stderr, "kemibench users: "+err.Error())
		return 1
	}
	fmt.Fprintf(stdout, "%d subscribers of %s in %s and %s\n", n, benchDomain, args[0], args[2])
	return 0
}
