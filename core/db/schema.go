package db

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Table versions of Kamailio 5.6: a module refuses a table whose version
// row says otherwise, as Kamailio does.
const (
	VersionSubscriber = 7
	VersionLocation   = 9
	VersionAcc        = 5
	VersionMissed     = 4
)

// accDDL is the acc and missed_calls table: Kamailio's columns, then the
// extra columns Kamailio's example config asks an operator to add for its
// db_extra (src_user, src_domain, src_ip, dst_ouser, dst_user,
// dst_domain), so that such a config works on a database kemi made.
const accDDL = `CREATE TABLE %[2]s (
    id %[1]s,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    src_user VARCHAR(64) DEFAULT '' NOT NULL,
    src_domain VARCHAR(128) DEFAULT '' NOT NULL,
    src_ip VARCHAR(64) DEFAULT '' NOT NULL,
    dst_ouser VARCHAR(64) DEFAULT '' NOT NULL,
    dst_user VARCHAR(64) DEFAULT '' NOT NULL,
    dst_domain VARCHAR(128) DEFAULT '' NOT NULL
)`

// The tables as Kamailio 5.6's schema defines them: the same names, columns,
// types and defaults, so that a database made by either works with both.
// %[1]s is the primary key's type.
var tables = []struct {
	name    string
	version int
	ddl     []string
}{
	{"version", 1, []string{`CREATE TABLE version (
    id %[1]s,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
)`}},
	{"subscriber", VersionSubscriber, []string{`CREATE TABLE subscriber (
    id %[1]s,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
)`, `CREATE INDEX subscriber_username_idx ON subscriber (username)`}},
	{"location", VersionLocation, []string{`CREATE TABLE location (
    id %[1]s,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q REAL DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    cflags INTEGER DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INTEGER DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    server_id INTEGER DEFAULT 0 NOT NULL,
    connection_id INTEGER DEFAULT 0 NOT NULL,
    keepalive INTEGER DEFAULT 0 NOT NULL,
    "partition" INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT location_ruid_idx UNIQUE (ruid)
)`, `CREATE INDEX location_account_contact_idx ON location (username, domain, contact)`,
		`CREATE INDEX location_expires_idx ON location (expires)`,
		`CREATE INDEX location_tcpcon_idx ON location (connection_id)`,
		`CREATE INDEX location_connection_idx ON location (server_id, connection_id)`}},
	{"dbaliases", 1, []string{`CREATE TABLE dbaliases (
    id %[1]s,
    alias_username VARCHAR(64) DEFAULT '' NOT NULL,
    alias_domain VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL
)`, `CREATE INDEX dbaliases_alias_user_idx ON dbaliases (alias_username)`,
		`CREATE INDEX dbaliases_alias_idx ON dbaliases (alias_username, alias_domain)`,
		`CREATE INDEX dbaliases_target_idx ON dbaliases (username, domain)`}},
	{"speed_dial", 2, []string{`CREATE TABLE speed_dial (
    id %[1]s,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    sd_username VARCHAR(64) DEFAULT '' NOT NULL,
    sd_domain VARCHAR(64) DEFAULT '' NOT NULL,
    new_uri VARCHAR(255) DEFAULT '' NOT NULL,
    fname VARCHAR(64) DEFAULT '' NOT NULL,
    lname VARCHAR(64) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL,
    CONSTRAINT speed_dial_speed_dial_idx UNIQUE (username, domain, sd_domain, sd_username)
)`}},
	{"domain", 2, []string{`CREATE TABLE domain (
    id %[1]s,
    domain VARCHAR(64) NOT NULL,
    did VARCHAR(64) DEFAULT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    CONSTRAINT domain_domain_idx UNIQUE (domain)
)`}},
	{"domain_attrs", 1, []string{`CREATE TABLE domain_attrs (
    id %[1]s,
    did VARCHAR(64) NOT NULL,
    name VARCHAR(32) NOT NULL,
    type INTEGER NOT NULL,
    value VARCHAR(255) NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL
)`, `CREATE INDEX domain_attrs_domain_attrs_idx ON domain_attrs (did, name)`}},
	{"trusted", 6, []string{`CREATE TABLE trusted (
    id %[1]s,
    src_ip VARCHAR(50) NOT NULL,
    proto VARCHAR(4) NOT NULL,
    from_pattern VARCHAR(64) DEFAULT NULL,
    ruri_pattern VARCHAR(64) DEFAULT NULL,
    tag VARCHAR(64),
    priority INTEGER DEFAULT 0 NOT NULL
)`, `CREATE INDEX trusted_peer_idx ON trusted (src_ip)`}},
	{"address", 6, []string{`CREATE TABLE address (
    id %[1]s,
    grp INTEGER DEFAULT 1 NOT NULL,
    ip_addr VARCHAR(50) NOT NULL,
    mask INTEGER DEFAULT 32 NOT NULL,
    port SMALLINT DEFAULT 0 NOT NULL,
    tag VARCHAR(64)
)`}},
	{"dispatcher", 4, []string{`CREATE TABLE dispatcher (
    id %[1]s,
    setid INTEGER DEFAULT 0 NOT NULL,
    destination VARCHAR(192) DEFAULT '' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    priority INTEGER DEFAULT 0 NOT NULL,
    attrs VARCHAR(128) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL
)`}},
	{"grp", 2, []string{`CREATE TABLE grp (
    id %[1]s,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    grp VARCHAR(64) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    CONSTRAINT grp_account_group_idx UNIQUE (username, domain, grp)
)`}},
	{"re_grp", 1, []string{`CREATE TABLE re_grp (
    id %[1]s,
    reg_exp VARCHAR(128) DEFAULT '' NOT NULL,
    group_id INTEGER DEFAULT 0 NOT NULL
)`, `CREATE INDEX re_grp_group_idx ON re_grp (group_id)`}},
	{"uri", 1, []string{`CREATE TABLE uri (
    id %[1]s,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    uri_user VARCHAR(64) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    CONSTRAINT uri_account_idx UNIQUE (username, domain, uri_user)
)`}},
	{"uacreg", 5, []string{`CREATE TABLE uacreg (
    id %[1]s,
    l_uuid VARCHAR(64) DEFAULT '' NOT NULL,
    l_username VARCHAR(64) DEFAULT '' NOT NULL,
    l_domain VARCHAR(64) DEFAULT '' NOT NULL,
    r_username VARCHAR(64) DEFAULT '' NOT NULL,
    r_domain VARCHAR(64) DEFAULT '' NOT NULL,
    realm VARCHAR(64) DEFAULT '' NOT NULL,
    auth_username VARCHAR(64) DEFAULT '' NOT NULL,
    auth_password VARCHAR(64) DEFAULT '' NOT NULL,
    auth_ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    auth_proxy VARCHAR(255) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    reg_delay INTEGER DEFAULT 0 NOT NULL,
    contact_addr VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT uacreg_l_uuid_idx UNIQUE (l_uuid)
)`}},
	{"dialog", 7, []string{`CREATE TABLE dialog (
    id %[1]s,
    hash_entry INTEGER NOT NULL,
    hash_id INTEGER NOT NULL,
    callid VARCHAR(255) NOT NULL,
    from_uri VARCHAR(255) NOT NULL,
    from_tag VARCHAR(128) NOT NULL,
    to_uri VARCHAR(255) NOT NULL,
    to_tag VARCHAR(128) NOT NULL,
    caller_cseq VARCHAR(20) NOT NULL,
    callee_cseq VARCHAR(20) NOT NULL,
    caller_route_set VARCHAR(512),
    callee_route_set VARCHAR(512),
    caller_contact VARCHAR(255) NOT NULL,
    callee_contact VARCHAR(255) NOT NULL,
    caller_sock VARCHAR(64) NOT NULL,
    callee_sock VARCHAR(64) NOT NULL,
    state INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    timeout INTEGER DEFAULT 0 NOT NULL,
    sflags INTEGER DEFAULT 0 NOT NULL,
    iflags INTEGER DEFAULT 0 NOT NULL,
    toroute_name VARCHAR(32),
    req_uri VARCHAR(255) NOT NULL,
    xdata VARCHAR(512)
)`, `CREATE INDEX dialog_hash_idx ON dialog (hash_entry, hash_id)`}},
	{"dialog_vars", 1, []string{`CREATE TABLE dialog_vars (
    id %[1]s,
    hash_entry INTEGER NOT NULL,
    hash_id INTEGER NOT NULL,
    dialog_key VARCHAR(128) NOT NULL,
    dialog_value VARCHAR(512) NOT NULL
)`, `CREATE INDEX dialog_vars_hash_idx ON dialog_vars (hash_entry, hash_id)`}},
	{"sip_trace", 4, []string{`CREATE TABLE sip_trace (
    id %[1]s,
    time_stamp TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    time_us INTEGER DEFAULT 0 NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    traced_user VARCHAR(255) DEFAULT '' NOT NULL,
    msg TEXT NOT NULL,
    method VARCHAR(50) DEFAULT '' NOT NULL,
    status VARCHAR(255) DEFAULT '' NOT NULL,
    fromip VARCHAR(64) DEFAULT '' NOT NULL,
    toip VARCHAR(64) DEFAULT '' NOT NULL,
    fromtag VARCHAR(128) DEFAULT '' NOT NULL,
    totag VARCHAR(128) DEFAULT '' NOT NULL,
    direction VARCHAR(4) DEFAULT '' NOT NULL
)`, `CREATE INDEX sip_trace_callid_idx ON sip_trace (callid)`}},
	{"usr_preferences", 2, []string{`CREATE TABLE usr_preferences (
    id %[1]s,
    uuid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(255) DEFAULT '0' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    attribute VARCHAR(32) DEFAULT '' NOT NULL,
    type INTEGER DEFAULT 0 NOT NULL,
    value VARCHAR(128) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL
)`, `CREATE INDEX usr_preferences_ua_idx ON usr_preferences (uuid, attribute)`,
		`CREATE INDEX usr_preferences_uda_idx ON usr_preferences (username, domain, attribute)`}},
	{"secfilter", 1, []string{`CREATE TABLE secfilter (
    id %[1]s,
    action SMALLINT DEFAULT 0 NOT NULL,
    type SMALLINT DEFAULT 0 NOT NULL,
    data VARCHAR(64) DEFAULT '' NOT NULL
)`, `CREATE INDEX secfilter_secfilter_idx ON secfilter (action, type, data)`}},
	{"htable", 2, []string{`CREATE TABLE htable (
    id %[1]s,
    key_name VARCHAR(64) DEFAULT '' NOT NULL,
    key_type INTEGER DEFAULT 0 NOT NULL,
    value_type INTEGER DEFAULT 0 NOT NULL,
    key_value VARCHAR(128) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL
)`}},
	{"topos_d", 2, []string{`CREATE TABLE topos_d (
    id %[1]s,
    rectime TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    x_context VARCHAR(64) DEFAULT '' NOT NULL,
    s_method VARCHAR(64) DEFAULT '' NOT NULL,
    s_cseq VARCHAR(64) DEFAULT '' NOT NULL,
    a_callid VARCHAR(255) DEFAULT '' NOT NULL,
    a_uuid VARCHAR(255) DEFAULT '' NOT NULL,
    b_uuid VARCHAR(255) DEFAULT '' NOT NULL,
    a_contact VARCHAR(512) DEFAULT '' NOT NULL,
    b_contact VARCHAR(512) DEFAULT '' NOT NULL,
    as_contact VARCHAR(512) DEFAULT '' NOT NULL,
    bs_contact VARCHAR(512) DEFAULT '' NOT NULL,
    a_tag VARCHAR(255) DEFAULT '' NOT NULL,
    b_tag VARCHAR(255) DEFAULT '' NOT NULL,
    a_rr TEXT,
    b_rr TEXT,
    s_rr TEXT,
    iflags INTEGER DEFAULT 0 NOT NULL,
    a_uri VARCHAR(255) DEFAULT '' NOT NULL,
    b_uri VARCHAR(255) DEFAULT '' NOT NULL,
    r_uri VARCHAR(255) DEFAULT '' NOT NULL,
    a_srcaddr VARCHAR(128) DEFAULT '' NOT NULL,
    b_srcaddr VARCHAR(128) DEFAULT '' NOT NULL,
    a_socket VARCHAR(128) DEFAULT '' NOT NULL,
    b_socket VARCHAR(128) DEFAULT '' NOT NULL
)`, `CREATE INDEX topos_d_rectime_idx ON topos_d (rectime)`, `CREATE INDEX topos_d_a_callid_idx ON topos_d (a_callid)`,
		`CREATE INDEX topos_d_a_uuid_idx ON topos_d (a_uuid)`, `CREATE INDEX topos_d_b_uuid_idx ON topos_d (b_uuid)`}},
	{"topos_t", 2, []string{`CREATE TABLE topos_t (
    id %[1]s,
    rectime TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    x_context VARCHAR(64) DEFAULT '' NOT NULL,
    s_method VARCHAR(64) DEFAULT '' NOT NULL,
    s_cseq VARCHAR(64) DEFAULT '' NOT NULL,
    a_callid VARCHAR(255) DEFAULT '' NOT NULL,
    a_uuid VARCHAR(255) DEFAULT '' NOT NULL,
    b_uuid VARCHAR(255) DEFAULT '' NOT NULL,
    direction INTEGER DEFAULT 0 NOT NULL,
    x_via TEXT,
    x_vbranch VARCHAR(255) DEFAULT '' NOT NULL,
    x_rr TEXT,
    y_rr TEXT,
    s_rr TEXT,
    x_uri VARCHAR(255) DEFAULT '' NOT NULL,
    a_contact VARCHAR(512) DEFAULT '' NOT NULL,
    b_contact VARCHAR(512) DEFAULT '' NOT NULL,
    as_contact VARCHAR(512) DEFAULT '' NOT NULL,
    bs_contact VARCHAR(512) DEFAULT '' NOT NULL,
    x_tag VARCHAR(255) DEFAULT '' NOT NULL,
    a_tag VARCHAR(255) DEFAULT '' NOT NULL,
    b_tag VARCHAR(255) DEFAULT '' NOT NULL,
    a_srcaddr VARCHAR(255) DEFAULT '' NOT NULL,
    b_srcaddr VARCHAR(255) DEFAULT '' NOT NULL,
    a_socket VARCHAR(128) DEFAULT '' NOT NULL,
    b_socket VARCHAR(128) DEFAULT '' NOT NULL
)`, `CREATE INDEX topos_t_rectime_idx ON topos_t (rectime)`, `CREATE INDEX topos_t_a_callid_idx ON topos_t (a_callid)`,
		`CREATE INDEX topos_t_x_vbranch_idx ON topos_t (x_vbranch)`, `CREATE INDEX topos_t_a_uuid_idx ON topos_t (a_uuid)`}},
	{"acc", VersionAcc, []string{accDDL, `CREATE INDEX acc_callid_idx ON acc (callid)`}},
	{"missed_calls", VersionMissed, []string{accDDL, `CREATE INDEX missed_calls_callid_idx ON missed_calls (callid)`}},
}

// Init creates the version, subscriber, location, dbaliases, speed_dial,
// domain, domain_attrs, trusted, address, dispatcher, grp, re_grp, uri,
// uacreg, dialog, dialog_vars, sip_trace, usr_preferences, secfilter, htable, topos_d,
// topos_t, acc
// and missed_calls tables that do not exist yet (what `kamdbctl create`
// does for these modules) and reports which it created.
func (d *DB) Init(ctx context.Context) (created []string, err error) {
	pk := "INTEGER PRIMARY KEY NOT NULL"
	switch d.URL.Driver {
	case Postgres:
		pk = "SERIAL PRIMARY KEY NOT NULL"
	case MySQL:
		pk = "INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL"
	}
	for _, t := range tables {
		if _, err := d.Columns(ctx, t.name); err == nil {
			continue
		}
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			for i, q := range t.ddl {
				if i == 0 {
					q = fmt.Sprintf(q, pk, t.name)
				}
				if d.URL.Driver == MySQL { // Kamailio's MySQL schema: DATETIME
					q = strings.ReplaceAll(q, "TIMESTAMP WITHOUT TIME ZONE", "DATETIME")
				}
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("create table %s: %w", t.name, err)
				}
			}
			_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO version (table_name, table_version) VALUES (?, ?)"), t.name, t.version)
			return err
		})
		if err != nil {
			return created, err
		}
		created = append(created, t.name)
	}
	return created, nil
}

// CheckVersion compares a table's row in the version table with the
// version the module reads, as Kamailio's db_check_table_version does.
func (d *DB) CheckVersion(ctx context.Context, table string, want int) error {
	var v int
	err := d.QueryRow(ctx, "SELECT table_version FROM version WHERE table_name = ?", table).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("table %s: no row in the version table (kemi db init creates it; Kamailio's would say version %d)", table, want)
	case err != nil:
		return fmt.Errorf("table %s: version: %w", table, err)
	case v != want:
		return fmt.Errorf("table %s: version %d, want %d (Kamailio 5.6's schema)", table, v, want)
	}
	return nil
}

// HA1 is H(user:realm:password) for a digest algorithm ("MD5" or
// "SHA-256"), as RFC 7616 §3.4.2 writes it.
func HA1(alg, user, realm, password string) string {
	s := user + ":" + realm + ":" + password
	if strings.EqualFold(alg, "SHA-256") {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// AddUser adds or replaces a subscriber, as `kamctl add` does: password in
// clear, ha1 = MD5(user:domain:password), ha1b = MD5(user@domain:domain:password).
func (d *DB) AddUser(ctx context.Context, user, domain, password string) error {
	if user == "" || domain == "" {
		return errors.New("add-user: want user@domain")
	}
	ha1 := HA1("MD5", user, domain, password)
	ha1b := HA1("MD5", user+"@"+domain, domain, password)
	return d.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM subscriber WHERE username = ? AND domain = ?"), user, domain); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)"),
			user, domain, password, ha1, ha1b)
		return err
	})
}
