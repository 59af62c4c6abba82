// kemibench's routing in JavaScript: the routing of kamailio.cfg (native),
// written as Kamailio's KEMI scripts are. Runs on kemi (goja) and on
// Kamailio's app_jsdt.

var FLT_NATS = 5;
var FLB_NATB = 6;

function route_reqinit() {
	if (KSR.maxfwd.process_maxfwd(10) < 0) {
		KSR.sl.sl_send_reply(483, "Too Many Hops");
		KSR.x.exit();
	}
	if (KSR.is_OPTIONS() && KSR.is_myself_ruri() && KSR.pv.is_null("$rU")) {
		KSR.sl.sl_send_reply(200, "Keepalive");
		KSR.x.exit();
	}
	if (KSR.sanity.sanity_check(17895, 7) < 0) {
		KSR.warn("malformed SIP message from " + KSR.pv.get("$si") + ":" + KSR.pv.get("$sp") + "\n");
		KSR.x.exit();
	}
}

function route_natdetect() {
	KSR.force_rport();
	if (KSR.nathelper.nat_uac_test(19) > 0) {
		if (KSR.is_REGISTER()) {
			KSR.nathelper.fix_nated_register();
		} else if (KSR.siputils.is_first_hop() > 0) {
			KSR.nathelper.set_contact_alias();
		}
		KSR.setflag(FLT_NATS);
	}
}

function route_withindlg() {
	if (KSR.siputils.has_totag() < 0) {
		return;
	}
	if (KSR.rr.loose_route() > 0) {
		KSR.tm.t_relay();
		KSR.x.exit();
	}
	if (KSR.is_ACK() && KSR.tm.t_check_trans() > 0) {
		KSR.tm.t_relay();
		KSR.x.exit();
	}
	KSR.sl.sl_send_reply(404, "Not here");
	KSR.x.exit();
}

function route_auth() {
	if (KSR.is_REGISTER() || KSR.is_myself_furi()) {
		if (KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0) {
			KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0);
			KSR.x.exit();
		}
		if (!KSR.is_method_in("RP")) {
			KSR.auth.consume_credentials();
		}
	}
	if (!KSR.is_myself_furi() && !KSR.is_myself_ruri()) {
		KSR.sl.sl_send_reply(403, "Not relaying");
		KSR.x.exit();
	}
}

function route_registrar() {
	if (!KSR.is_REGISTER()) {
		return;
	}
	if (KSR.isflagset(FLT_NATS)) {
		KSR.setbflag(FLB_NATB);
	}
	if (KSR.registrar.save("location", 0) < 0) {
		KSR.sl.sl_reply_error();
	}
	KSR.x.exit();
}

function route_location() {
	if (KSR.registrar.lookup("location") < 0) {
		KSR.sl.sl_send_reply(404, "Not Found");
		KSR.x.exit();
	}
	KSR.tm.t_relay();
	KSR.x.exit();
}

function ksr_request_route() {
	route_reqinit();
	route_natdetect();
	if (KSR.is_CANCEL()) {
		if (KSR.tm.t_check_trans() > 0) {
			KSR.tm.t_relay();
		}
		KSR.x.exit();
	}
	route_withindlg();
	if (!KSR.is_ACK()) {
		if (KSR.tmx.t_precheck_trans() > 0) {
			KSR.tm.t_check_trans();
			KSR.x.exit();
		}
		KSR.tm.t_check_trans();
	}
	route_auth();
	KSR.hdr.remove("Route");
	if (KSR.is_method_in("IS")) {
		KSR.rr.record_route();
	}
	route_registrar();
	if (KSR.pv.is_null("$rU")) {
		KSR.sl.sl_send_reply(484, "Address Incomplete");
		KSR.x.exit();
	}
	route_location();
}
