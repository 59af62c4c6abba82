package dialog

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/modules/tm"
)

// The tables' versions, Kamailio's.
const (
	dialogVersion = 7
	varsVersion   = 1
)

func (m *Module) checkTables() error {
	ctx := context.Background()
	if err := m.db.CheckVersion(ctx, m.conf.table, dialogVersion); err != nil {
		return fmt.Errorf("dialog: %w", err)
	}
	if err := m.db.CheckVersion(ctx, m.conf.varsTable, varsVersion); err != nil {
		return fmt.Errorf("dialog: %w", err)
	}
	return nil
}

// store writes a dialog with db_mode 1, marks it for the next write with
// 2 and 3; the lock is held.
func (m *Module) store(d *dialog) {
	if m.db == nil || m.conf.dbMode == 0 {
		return
	}
	if m.conf.dbMode != 1 {
		d.dirty = true
		return
	}
	if err := m.write(d); err != nil {
		m.log.Error("dialog: failed to write the dialog: " + err.Error())
	}
}

// forget deletes a dialog that is gone from the tables; the lock is held.
func (m *Module) forget(d *dialog) {
	if m.db == nil || !d.inDB {
		return
	}
	if err := m.remove(d); err != nil {
		m.log.Error("dialog: failed to remove the dialog: " + err.Error())
	}
}

// flush writes the dialogs changed since the last flush (all with
// every).
func (m *Module) flush(every bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.byKey {
		if d.dirty || every {
			if err := m.write(d); err != nil {
				m.log.Error("dialog: failed to write the dialog: " + err.Error())
				continue
			}
			d.dirty = false
		}
	}
}

func sockName(l *transport.Listener) string {
	if l == nil {
		return ""
	}
	return l.String()
}

// write replaces a dialog's rows: a deleted dialog's are removed, as
// Kamailio keeps only the living ones.
func (m *Module) write(d *dialog) error {
	if d.state == stateDeleted {
		return m.remove(d)
	}
	ctx := context.Background()
	if d.inDB {
		if err := m.remove(d); err != nil {
			return err
		}
	}
	timeout := d.timerAt
	if d.state < stateConfirmedNA {
		timeout = 0
	}
	q := "INSERT INTO " + m.conf.table + " (hash_entry, hash_id, callid, from_uri, from_tag, to_uri, to_tag, caller_cseq, callee_cseq, " +
		"caller_route_set, callee_route_set, caller_contact, callee_contact, caller_sock, callee_sock, state, start_time, timeout, " +
		"sflags, iflags, toroute_name, req_uri, xdata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	cl, ce := d.legs[caller], d.legs[callee]
	if _, err := m.db.Exec(ctx, q, d.hEntry, d.hID, d.callID, d.fromURI, cl.tag, d.toURI, ce.tag, cl.cseq, ce.cseq,
		strings.Join(cl.routeSet, ","), strings.Join(ce.routeSet, ","), cl.contact, ce.contact, sockName(cl.sock), sockName(ce.sock),
		d.state, d.startTS, timeout, d.sflags, d.iflags, d.toroute, d.reqURI, profilesJSON(d)); err != nil {
		return err
	}
	for _, x := range d.vars {
		if _, err := m.db.Exec(ctx, "INSERT INTO "+m.conf.varsTable+" (hash_entry, hash_id, dialog_key, dialog_value) VALUES (?, ?, ?, ?)",
			d.hEntry, d.hID, x.k, x.v); err != nil {
			return err
		}
	}
	d.inDB = true
	return nil
}

func (m *Module) remove(d *dialog) error {
	ctx := context.Background()
	if _, err := m.db.Exec(ctx, "DELETE FROM "+m.conf.table+" WHERE hash_entry = ? AND hash_id = ?", d.hEntry, d.hID); err != nil {
		return err
	}
	if _, err := m.db.Exec(ctx, "DELETE FROM "+m.conf.varsTable+" WHERE hash_entry = ? AND hash_id = ?", d.hEntry, d.hID); err != nil {
		return err
	}
	d.inDB = false
	return nil
}

// loadDB reads the dialogs of the table (those of callID, when given)
// that are not in memory: at start, dlg_db_load_callid and
// dlg_db_load_extra. A dialog whose timeout passed while kemi was down
// ends at once (its BYEs sent when asked).
func (m *Module) loadDB(callID string) error {
	ctx := context.Background()
	q := "SELECT hash_entry, hash_id, callid, from_uri, from_tag, to_uri, to_tag, caller_cseq, callee_cseq, caller_route_set, " +
		"callee_route_set, caller_contact, callee_contact, caller_sock, callee_sock, state, start_time, timeout, sflags, iflags, req_uri, xdata FROM " + m.conf.table
	var args []any
	if callID != "" {
		q += " WHERE callid = ?"
		args = append(args, callID)
	}
	rows, err := m.db.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("dialog: %s: %w", m.conf.table, err)
	}
	var loaded []*dialog
	xdata := map[*dialog]string{}
	for rows.Next() {
		var he, hi, st, start, timeout, sflags, iflags sql.NullInt64
		var s [13]sql.NullString
		var x sql.NullString
		if err := rows.Scan(&he, &hi, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7], &s[8], &s[9], &s[10], &s[11], &s[12],
			&st, &start, &timeout, &sflags, &iflags, new(sql.NullString), &x); err != nil {
			rows.Close()
			return fmt.Errorf("dialog: %s: %w", m.conf.table, err)
		}
		d := &dialog{hEntry: uint32(he.Int64), hID: uint32(hi.Int64), callID: s[0].String, fromURI: s[1].String, toURI: s[3].String,
			state: int(st.Int64), startTS: start.Int64, timerAt: timeout.Int64, sflags: uint32(sflags.Int64), iflags: uint32(iflags.Int64),
			inDB: true, lifetime: m.conf.defaultTimeout}
		if d.timerAt > d.startTS && d.startTS > 0 {
			d.lifetime = int(d.timerAt - d.startTS)
		}
		split := func(v string) []string {
			if v == "" {
				return nil
			}
			return splitRoutes(v)
		}
		d.legs[caller] = leg{tag: s[2].String, cseq: s[5].String, routeSet: split(s[7].String), contact: s[9].String, sock: m.env.Socket(s[11].String)}
		d.legs[callee] = leg{tag: s[4].String, cseq: s[6].String, routeSet: split(s[8].String), contact: s[10].String, sock: m.env.Socket(s[12].String)}
		loaded = append(loaded, d)
		xdata[d] = x.String
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range loaded {
		if m.byKey[d.key()] != nil {
			continue
		}
		if err := m.loadVars(d); err != nil {
			return err
		}
		if err := m.loadProfiles(d, xdata[d]); err != nil {
			m.log.Error(fmt.Sprintf("dialog: dialog %d:%d: xdata: %v", d.hEntry, d.hID, err))
		}
		m.byKey[d.key()] = d
		if int(d.hEntry) < len(m.nextID) && m.nextID[d.hEntry] < d.hID {
			m.nextID[d.hEntry] = d.hID
		}
		// One whose timeout passed while kemi was down ends at the
		// timer's next run (its BYEs sent when asked).
		if (d.state == stateConfirmed || d.state == stateConfirmedNA) && m.conf.enableStats {
			m.stats.active++
		}
	}
	return nil
}

// xprofile is a profile link in the xdata column, Kamailio's JSON
// (dlg_profiles_to_json): the newest link first, "value" only for a
// profile with values.
type xprofile struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	PUID  string `json:"puid,omitempty"`
}

// profilesJSON is the xdata of a dialog: {"profiles":[...]}, or NULL for
// a dialog in no profile, as Kamailio writes it.
func profilesJSON(d *dialog) any {
	if len(d.profiles) == 0 {
		return nil
	}
	var x struct {
		Profiles []xprofile `json:"profiles"`
	}
	for i := len(d.profiles) - 1; i >= 0; i-- {
		l := d.profiles[i]
		x.Profiles = append(x.Profiles, xprofile{l.profile, l.value, l.puid})
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // as srjson prints
	e.Encode(x)
	return strings.TrimSuffix(b.String(), "\n")
}

// loadProfiles links a dialog read back to the profiles its xdata names
// (those still defined); the lock is held.
func (m *Module) loadProfiles(d *dialog, xdata string) error {
	if xdata == "" {
		return nil
	}
	var x struct {
		Profiles []xprofile `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(xdata), &x); err != nil {
		return err
	}
	for i := len(x.Profiles) - 1; i >= 0; i-- {
		p := x.Profiles[i]
		if m.prof[p.Name] != nil {
			m.linkProfile(d, link{p.Name, p.Value, p.PUID})
		}
	}
	return nil
}

// splitRoutes splits a stored route set ("<sip:a;lr>,<sip:b;lr>").
func splitRoutes(v string) []string {
	var out []string
	depth := 0
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(v[start:i]))
				start = i + 1
			}
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// loadVars reads a dialog's variables (and profiles) back; the lock is
// held.
func (m *Module) loadVars(d *dialog) error {
	rows, err := m.db.Query(context.Background(), "SELECT dialog_key, dialog_value FROM "+m.conf.varsTable+" WHERE hash_entry = ? AND hash_id = ?",
		d.hEntry, d.hID)
	if err != nil {
		return fmt.Errorf("dialog: %s: %w", m.conf.varsTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if name, ok := strings.CutPrefix(k.String, "profile:"); ok {
			if m.prof[name] != nil {
				m.linkProfile(d, link{profile: name, value: v.String}) // rows of a kemi before xdata
			}
			continue
		}
		d.vars = append(d.vars, kv{k.String, v.String})
	}
	return rows.Err()
}

// holdSDP is the body of dlg_bridge's INVITE, Kamailio's.
const holdSDP = "v=0\r\no=kamailio-bridge 0 0 IN IP4 0.0.0.0\r\ns=kamailio\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"

// bridge is dlg_bridge: an INVITE to from (From the bridge controller,
// a hold SDP, through op when given); when it is answered, a REFER sends
// from to to, and a BYE ends the controller's call.
func (m *Module) bridge(from, to, op string) error {
	if from == "" || to == "" {
		return fmt.Errorf("invalid from or to")
	}
	ftag := strconv.FormatInt(time.Now().UnixNano(), 36)
	hdrs := "From: <" + m.conf.bridgeController + ">;tag=" + ftag + "\r\nTo: <" + from + ">\r\nContact: <" + m.conf.bridgeContact +
		">\r\nContent-Type: application/sdp\r\n"
	return m.tm.Request(tm.UAC{Method: "INVITE", RURI: from, NextHop: op, Headers: hdrs, Body: holdSDP, Done: func(code int, reply []byte) {
		if code >= 300 || reply == nil {
			return
		}
		var msg sip.Msg
		if msg.Parse(reply) != nil {
			return
		}
		m.bridgeRefer(&msg, from, to, op)
	}})
}

// bridgeRefer sends the ACK of the bridge's 2xx, then the REFER in its
// dialog, then the BYE.
func (m *Module) bridgeRefer(rpl *sip.Msg, from, to, op string) {
	target := from
	if ct, err := rpl.Contact(); err == nil && ct != nil {
		target = string(ct.URI.Raw)
	}
	fromH := "From: <" + m.conf.bridgeController + ">;tag=" + string(rpl.From().Tag) + "\r\n"
	toH := "To: <" + string(rpl.To().URI.Raw) + ">;tag=" + string(rpl.To().Tag) + "\r\n"
	callID := "Call-ID: " + string(rpl.CallID()) + "\r\n"
	cseq := rpl.CSeq()
	if err := m.ack(target, op, fromH+toH+callID+"CSeq: "+strconv.FormatUint(uint64(cseq), 10)+" ACK\r\n"); err != nil {
		m.log.Error("dialog: dlg_bridge: ACK not sent: " + err.Error())
	}
	refer := fromH + toH + callID + "CSeq: " + strconv.FormatUint(uint64(cseq)+1, 10) + " REFER\r\nReferred-By: " + m.conf.bridgeController +
		"\r\nRefer-To: " + to + "\r\nContact: <" + m.conf.bridgeContact + ">\r\n"
	err := m.tm.Request(tm.UAC{Method: "REFER", RURI: target, NextHop: op, Headers: refer, Done: func(int, []byte) {
		// The BYE goes anyhow, as Kamailio's.
		bye := fromH + toH + callID + "CSeq: " + strconv.FormatUint(uint64(cseq)+2, 10) + " BYE\r\n"
		if err := m.tm.Request(tm.UAC{Method: "BYE", RURI: target, NextHop: op, Headers: bye}); err != nil {
			m.log.Error("dialog: dlg_bridge: BYE not sent: " + err.Error())
		}
	}})
	if err != nil {
		m.log.Error("dialog: dlg_bridge: failed to send the REFER request: " + err.Error())
	}
}

// ack sends the ACK of a 2xx to a request of the module's own, statelessly
// (tm keeps no transaction for it, as RFC 3261 §17.1.1.3 has it).
func (m *Module) ack(target, op, hdrs string) error {
	dst := target
	if op != "" {
		dst = op
	}
	var u sip.URI
	if err := sip.ParseURI([]byte(dst), &u); err != nil {
		return err
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	ip, err := netip.ParseAddr(strings.Trim(string(u.Host), "[]"))
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", string(u.Host))
		if lerr != nil || len(ips) == 0 {
			return fmt.Errorf("cannot resolve %s", u.Host)
		}
		ip = ips[0]
	}
	var local *transport.Listener
	for _, l := range m.env.Transport.Listeners {
		if l.Proto == sip.TransportUDP {
			local = l
			break
		}
	}
	if local == nil {
		return fmt.Errorf("no UDP socket")
	}
	branch := "z9hG4bK" + strconv.FormatInt(time.Now().UnixNano(), 36)
	msg := "ACK " + target + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local.Addr.String() + ";branch=" + branch + "\r\nMax-Forwards: 70\r\n" +
		hdrs + "Content-Length: 0\r\n\r\n"
	return m.env.Transport.Send(local, sip.TransportUDP, netip.AddrPortFrom(ip, uint16(port)), []byte(msg))
}
