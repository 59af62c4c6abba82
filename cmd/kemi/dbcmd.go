package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/db"
)

const dbUsage = `Usage:
  kemi db init DBURL                         create Kamailio's tables of kemi's modules (version, subscriber, location, dbaliases, speed_dial, domain, domain_attrs, acc, missed_calls)
  kemi db add-user DBURL user@domain PASSWORD add or replace a subscriber (ha1 and ha1b computed)
DBURL: sqlite:///path/file.db, sqlite:////abs/path/file.db (Kamailio's form), postgres://user:pass@host/db
`

// dbCommand is `kemi db ...`, what kamdbctl create and kamctl add do.
func dbCommand(args []string, stdout, stderr io.Writer) int {
	fail := func(f string, a ...any) int {
		fmt.Fprintf(stderr, "kemi db: "+f+"\n", a...)
		return 1
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, dbUsage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch args[0] {
	case "init":
		if len(args) != 2 {
			fmt.Fprint(stderr, dbUsage)
			return 2
		}
		d, err := db.Open(args[1])
		if err != nil {
			return fail("%v", err)
		}
		defer d.Close()
		created, err := d.Init(ctx)
		if err != nil {
			return fail("%v", err)
		}
		if len(created) == 0 {
			fmt.Fprintln(stdout, "the tables exist already: nothing to do")
		} else {
			fmt.Fprintln(stdout, "created tables: "+strings.Join(created, ", "))
		}
		return 0
	case "add-user":
		if len(args) != 4 {
			fmt.Fprint(stderr, dbUsage)
			return 2
		}
		user, domain, ok := strings.Cut(args[2], "@")
		if !ok || user == "" || domain == "" {
			return fail("%q: want user@domain", args[2])
		}
		d, err := db.Open(args[1])
		if err != nil {
			return fail("%v", err)
		}
		defer d.Close()
		if err := d.RequireColumns(ctx, "subscriber", "username", "domain", "password", "ha1", "ha1b"); err != nil {
			return fail("%v (kemi db init %s creates it)", err, args[1])
		}
		if err := d.AddUser(ctx, user, domain, args[3]); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "subscriber %s@%s added\n", user, domain)
		return 0
	}
	fmt.Fprint(stderr, dbUsage)
	return 2
}
