// kemi's reference proxy in JavaScript: registrar, location service and
// stateful proxy, the routing of kamailio.cfg (and proxy.lua) written as
// Kamailio's KEMI scripts are. Features follow the defines of the config
// (-A WITH_NAT ...).

var FLT_ACC = 1;
var FLT_ACCMISSED = 2;
var FLT_ACCFAILED = 3;
var FLT_NATS = 5;
var FLB_NATB = 6;
var FLB_NATSIPPING = 7;

// the defines, read once (KSR is there only while a route runs)
var withs = null;
function feature(name) {
	if (withs === null) {
		withs = {};
		["WITH_AUTH", "WITH_NAT", "WITH_ANTIFLOOD", "WITH_REDISBANS", "WITH_VOICEMAIL"].forEach(function (d) {
			withs[d] = KSR.kx.ifdef(d);
		});
	}
	return withs[name];
}

// banned: the address is banned, in Redis with WITH_REDISBANS (every
// node's bans), else in the htable. redis_cmd_p1 returns 0 when Redis
// answered, as Kamailio's KEMI function does.
function banned(ip) {
	if (feature("WITH_REDISBANS")) {
		return KSR.ndb_redis.redis_cmd_p1("bans", "EXISTS ipban:%s", ip, "ban") >= 0
			&& KSR.pv.get("$redis(ban=>value)") == 1;
	}
	return KSR.htable.sht_match_name("ipban", "eq", ip) > 0;
}

function ban(ip) {
	if (feature("WITH_REDISBANS")) {
		KSR.ndb_redis.redis_cmd_p1("bans", "SETEX ipban:%s 300 1", ip, "ban");
	} else {
		KSR.htable.sht_seti("ipban", ip, 1);
	}
}

function route_reqinit() {
	if (feature("WITH_ANTIFLOOD") && !KSR.is_myself_srcip()) {
		var srcip = KSR.kx.get_srcip();
		if (banned(srcip)) {
			KSR.dbg("request from banned address " + srcip + " dropped\n");
			KSR.x.exit();
		}
		if (KSR.pike.pike_check_req() < 0) {
			KSR.err("pike: flood from " + srcip + ":" + KSR.kx.get_srcport()
				+ " (" + KSR.kx.get_method() + " from " + KSR.kx.get_furi() + "), banned\n");
			ban(srcip);
			KSR.x.exit();
		}
	}
	var ua = KSR.kx.gete_ua();
	if (/friendly|scanner|sipcli|sipvicious|VaxSIP/.test(ua)) {
		// scanners get nothing back
		KSR.x.exit();
	}
	if (KSR.maxfwd.process_maxfwd(10) < 0) {
		KSR.sl.sl_send_reply(483, "Too Many Hops");
		KSR.x.exit();
	}
	if (KSR.is_OPTIONS() && KSR.is_myself_ruri() && KSR.corex.has_ruri_user() < 0) {
		KSR.sl.sl_send_reply(200, "Keepalive");
		KSR.x.exit();
	}
	if (KSR.sanity.sanity_check(17895, 7) < 0) {
		KSR.err("malformed request from " + KSR.kx.get_srcip() + ":" + KSR.kx.get_srcport() + "\n");
		KSR.x.exit();
	}
}

function route_natdetect() {
	if (!feature("WITH_NAT")) {
		return;
	}
	KSR.force_rport();
	if (KSR.nathelper.nat_uac_test(83) > 0) {
		if (KSR.is_REGISTER()) {
			KSR.nathelper.fix_nated_register();
		} else if (KSR.siputils.is_first_hop() > 0) {
			KSR.nathelper.set_contact_alias();
		}
		KSR.setflag(FLT_NATS);
	}
}

// media relay control comes with rtpproxy/rtpengine; here the signalling
function route_natmanage() {
	if (!feature("WITH_NAT")) {
		return;
	}
	if (KSR.siputils.is_request() > 0 && KSR.siputils.has_totag() > 0) {
		if (KSR.rr.check_route_param("nat=yes") > 0) {
			KSR.setbflag(FLB_NATB);
		}
	}
	if (!(KSR.isflagset(FLT_NATS) || KSR.isbflagset(FLB_NATB))) {
		return;
	}
	if (KSR.siputils.is_request() > 0 && KSR.siputils.has_totag() < 0) {
		if (KSR.tmx.t_is_branch_route() > 0) {
			KSR.rr.add_rr_param(";nat=yes");
		}
	}
	if (KSR.siputils.is_reply() > 0 && KSR.isbflagset(FLB_NATB)) {
		if (KSR.siputils.is_first_hop() > 0) {
			KSR.nathelper.set_contact_alias();
		}
	}
}

function route_relay() {
	if (KSR.is_method_in("IBSU")) { // INVITE, BYE, SUBSCRIBE, UPDATE
		if (KSR.tm.t_is_set("branch_route") < 0) {
			KSR.tm.t_on_branch("ksr_branch_manage");
		}
	}
	if (KSR.is_method_in("ISU")) {
		if (KSR.tm.t_is_set("onreply_route") < 0) {
			KSR.tm.t_on_reply("ksr_onreply_manage");
		}
	}
	if (KSR.is_INVITE()) {
		if (KSR.tm.t_is_set("failure_route") < 0) {
			KSR.tm.t_on_failure("ksr_failure_manage");
		}
	}
	if (KSR.tm.t_relay() < 0) {
		KSR.sl.sl_reply_error();
	}
	KSR.x.exit();
}

function route_dlguri() {
	if (feature("WITH_NAT") && !KSR.isdsturiset()) {
		KSR.nathelper.handle_ruri_alias();
	}
}

// requests inside a dialog follow its route set
function route_withindlg() {
	if (KSR.siputils.has_totag() < 0) {
		return;
	}
	if (KSR.rr.loose_route() > 0) {
		route_dlguri();
		if (KSR.is_BYE()) {
			KSR.setflag(FLT_ACC);
			KSR.setflag(FLT_ACCFAILED);
		} else if (KSR.is_ACK()) {
			route_natmanage();
		} else if (KSR.is_NOTIFY()) {
			KSR.rr.record_route();
		}
		route_relay();
		KSR.x.exit();
	}
	if (KSR.is_ACK()) {
		if (KSR.tm.t_check_trans() > 0) {
			// an ACK of a non-2xx reply, or without Route
			route_relay();
		}
		KSR.x.exit();
	}
	KSR.sl.sl_send_reply(404, "Not here");
	KSR.x.exit();
}

function route_registrar() {
	if (!KSR.is_REGISTER()) {
		return;
	}
	if (KSR.isflagset(FLT_NATS)) {
		KSR.setbflag(FLB_NATB);
		KSR.setbflag(FLB_NATSIPPING);
	}
	if (KSR.registrar.save("location", 0) < 0) {
		KSR.sl.sl_reply_error();
	}
	KSR.x.exit();
}

function route_location() {
	KSR.pv.sets("$avp(oexten)", KSR.pv.gete("$rU"));
	var rc = KSR.registrar.lookup("location");
	if (rc < 0) {
		KSR.tm.t_newtran();
		if (rc == -1 || rc == -3) {
			KSR.sl.send_reply(404, "Not Found");
			KSR.x.exit();
		} else if (rc == -2) {
			KSR.sl.send_reply(405, "Method Not Allowed");
			KSR.x.exit();
		}
	}
	if (KSR.is_INVITE()) {
		KSR.setflag(FLT_ACCMISSED);
	}
	route_relay();
	KSR.x.exit();
}

function route_auth() {
	if (!feature("WITH_AUTH")) {
		return;
	}
	if (KSR.is_REGISTER() || KSR.is_myself_furi()) {
		if (KSR.auth_db.auth_check(KSR.kx.gete_fhost(), "subscriber", 1) < 0) {
			KSR.auth.auth_challenge(KSR.kx.gete_fhost(), 0);
			KSR.x.exit();
		}
		if (!KSR.is_method_in("RP")) {
			KSR.auth.consume_credentials();
		}
	}
	if (!(KSR.is_myself_furi() || KSR.is_myself_ruri())) {
		KSR.sl.sl_send_reply(403, "Not relaying");
		KSR.x.exit();
	}
}

function ksr_request_route() {
	// checks before anything else: floods, scanners, loops, malformed
	route_reqinit();
	route_natdetect();

	if (KSR.is_CANCEL()) {
		if (KSR.tm.t_check_trans() > 0) {
			route_relay();
		}
		KSR.x.exit();
	}

	// retransmissions are answered from their transaction
	if (!KSR.is_ACK()) {
		if (KSR.tmx.t_precheck_trans() > 0) {
			KSR.tm.t_check_trans();
			KSR.x.exit();
		}
		if (KSR.tm.t_check_trans() == 0) {
			KSR.x.exit();
		}
	}

	route_withindlg();

	// an initial request: a preloaded Route is not followed
	KSR.hdr.remove("Route");
	if (KSR.is_method_in("IS")) {
		KSR.rr.record_route();
	}
	// account INVITEs (WITH_ACCDB)
	if (KSR.is_INVITE()) {
		KSR.setflag(FLT_ACC);
	}
	route_auth();
	route_registrar();

	if (KSR.corex.has_ruri_user() < 0) {
		KSR.sl.sl_send_reply(484, "Address Incomplete");
		KSR.x.exit();
	}
	route_location();
	route_relay();
}

function ksr_branch_manage() {
	KSR.dbg("new branch [" + KSR.pv.get("$T_branch_idx") + "] to " + KSR.kx.get_ruri() + "\n");
	route_natmanage();
}

function ksr_onreply_manage() {
	KSR.dbg("incoming reply\n");
	var scode = KSR.kx.get_status();
	if (scode > 100 && scode < 299) {
		route_natmanage();
	}
}

function ksr_failure_manage() {
	route_natmanage();
	if (KSR.tm.t_is_canceled() > 0) {
		return;
	}
	if (feature("WITH_VOICEMAIL") && KSR.tm.t_check_status("486|408") > 0) {
		// busy or not answering: the call goes to the voicemail server
		var uri = (KSR.kx.get_def("VOICEMAIL_URI") || "").replace(/"/g, "");
		KSR.pv.sets("$du", uri);
		KSR.tm.t_relay();
	}
}

// WITH_WEBSOCKETS: HTTP on the SIP TCP socket, a browser's WebSocket
// upgrade (xhttp's event_callback)
function ksr_xhttp_event(evname) {
	KSR.set_reply_close();
	KSR.set_reply_no_connect();
	var upgrade = (KSR.hdr.get("Upgrade") || "").toLowerCase();
	var connection = (KSR.hdr.get("Connection") || "").toLowerCase();
	if (upgrade.indexOf("websocket") >= 0 && connection.indexOf("upgrade") >= 0 && KSR.kx.get_method() == "GET") {
		if (KSR.websocket.handle_handshake() > 0) {
			return;
		}
	}
	KSR.xhttp.xhttp_reply(404, "Not Found", "", "");
}

function ksr_websocket_event(evname) {
	KSR.info("WebSocket connection from " + KSR.kx.get_srcip() + ":" + KSR.kx.get_srcport() + " closed\n");
}
