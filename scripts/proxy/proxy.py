# kemi's reference proxy in Python: registrar, location service and
# stateful proxy, the routing of kamailio.cfg (and proxy.lua) written as
# Kamailio's KEMI scripts are: mod_init() returns the object whose methods
# are the routes. Features follow the defines of the config (-A WITH_NAT).
import KSR as KSR

FLT_ACC = 1
FLT_ACCMISSED = 2
FLT_ACCFAILED = 3
FLT_NATS = 5
FLB_NATB = 6
FLB_NATSIPPING = 7

SCANNERS = ["friendly", "scanner", "sipcli", "sipvicious", "VaxSIP"]


def mod_init():
    return kamailio()


class kamailio:
    def __init__(self):
        # the defines, read at the first request (KSR is there only while
        # a route runs)
        self.withs = None

    def child_init(self, rank):
        return 0

    def feature(self, name):
        if self.withs is None:
            self.withs = {}
            for d in ["WITH_AUTH", "WITH_NAT", "WITH_ANTIFLOOD", "WITH_REDISBANS", "WITH_VOICEMAIL"]:
                self.withs[d] = KSR.kx.ifdef(d)
        return self.withs[name]

    # banned: the address is banned, in Redis with WITH_REDISBANS (every
    # node's bans), else in the htable. redis_cmd_p1 returns 0 when Redis
    # answered, as Kamailio's KEMI function does.
    def banned(self, ip):
        if self.feature("WITH_REDISBANS"):
            return (KSR.ndb_redis.redis_cmd_p1("bans", "EXISTS ipban:%s", ip, "ban") >= 0
                    and KSR.pv.get("$redis(ban=>value)") == 1)
        return KSR.htable.sht_match_name("ipban", "eq", ip) > 0

    def ban(self, ip):
        if self.feature("WITH_REDISBANS"):
            KSR.ndb_redis.redis_cmd_p1("bans", "SETEX ipban:%s 300 1", ip, "ban")
        else:
            KSR.htable.sht_seti("ipban", ip, 1)

    def route_reqinit(self):
        if self.feature("WITH_ANTIFLOOD") and not KSR.is_myself_srcip():
            srcip = KSR.kx.get_srcip()
            if self.banned(srcip):
                KSR.dbg("request from banned address %s dropped\n" % srcip)
                KSR.x.exit()
            if KSR.pike.pike_check_req() < 0:
                KSR.err("pike: flood from %s:%s (%s from %s), banned\n" % (
                    srcip, KSR.kx.get_srcport(), KSR.kx.get_method(), KSR.kx.get_furi()))
                self.ban(srcip)
                KSR.x.exit()
        ua = KSR.kx.gete_ua()
        for s in SCANNERS:
            if s in ua:
                # scanners get nothing back
                KSR.x.exit()
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            KSR.x.exit()
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
            KSR.sl.sl_send_reply(200, "Keepalive")
            KSR.x.exit()
        if KSR.sanity.sanity_check(17895, 7) < 0:
            KSR.err("malformed request from %s:%s\n" % (KSR.kx.get_srcip(), KSR.kx.get_srcport()))
            KSR.x.exit()

    def route_natdetect(self):
        if not self.feature("WITH_NAT"):
            return
        KSR.force_rport()
        if KSR.nathelper.nat_uac_test(83) > 0:
            if KSR.is_REGISTER():
                KSR.nathelper.fix_nated_register()
            elif KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()
            KSR.setflag(FLT_NATS)

    # media relay control comes with rtpproxy/rtpengine; here the signalling
    def route_natmanage(self):
        if not self.feature("WITH_NAT"):
            return
        if KSR.siputils.is_request() > 0 and KSR.siputils.has_totag() > 0:
            if KSR.rr.check_route_param("nat=yes") > 0:
                KSR.setbflag(FLB_NATB)
        if not (KSR.isflagset(FLT_NATS) or KSR.isbflagset(FLB_NATB)):
            return
        if KSR.siputils.is_request() > 0 and KSR.siputils.has_totag() < 0:
            if KSR.tmx.t_is_branch_route() > 0:
                KSR.rr.add_rr_param(";nat=yes")
        if KSR.siputils.is_reply() > 0 and KSR.isbflagset(FLB_NATB):
            if KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()

    def route_relay(self):
        if KSR.is_method_in("IBSU"):  # INVITE, BYE, SUBSCRIBE, UPDATE
            if KSR.tm.t_is_set("branch_route") < 0:
                KSR.tm.t_on_branch("ksr_branch_manage")
        if KSR.is_method_in("ISU"):
            if KSR.tm.t_is_set("onreply_route") < 0:
                KSR.tm.t_on_reply("ksr_onreply_manage")
        if KSR.is_INVITE():
            if KSR.tm.t_is_set("failure_route") < 0:
                KSR.tm.t_on_failure("ksr_failure_manage")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()
        KSR.x.exit()

    def route_dlguri(self):
        if self.feature("WITH_NAT") and not KSR.isdsturiset():
            KSR.nathelper.handle_ruri_alias()

    # requests inside a dialog follow its route set
    def route_withindlg(self):
        if KSR.siputils.has_totag() < 0:
            return
        if KSR.rr.loose_route() > 0:
            self.route_dlguri()
            if KSR.is_BYE():
                KSR.setflag(FLT_ACC)
                KSR.setflag(FLT_ACCFAILED)
            elif KSR.is_ACK():
                self.route_natmanage()
            elif KSR.is_NOTIFY():
                KSR.rr.record_route()
            self.route_relay()
            KSR.x.exit()
        if KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                # an ACK of a non-2xx reply, or without Route
                self.route_relay()
            KSR.x.exit()
        KSR.sl.sl_send_reply(404, "Not here")
        KSR.x.exit()

    def route_registrar(self):
        if not KSR.is_REGISTER():
            return
        if KSR.isflagset(FLT_NATS):
            KSR.setbflag(FLB_NATB)
            KSR.setbflag(FLB_NATSIPPING)
        if KSR.registrar.save("location", 0) < 0:
            KSR.sl.sl_reply_error()
        KSR.x.exit()

    def route_location(self):
        KSR.pv.sets("$avp(oexten)", KSR.pv.gete("$rU"))
        rc = KSR.registrar.lookup("location")
        if rc < 0:
            KSR.tm.t_newtran()
            if rc == -1 or rc == -3:
                KSR.sl.send_reply(404, "Not Found")
                KSR.x.exit()
            elif rc == -2:
                KSR.sl.send_reply(405, "Method Not Allowed")
                KSR.x.exit()
        if KSR.is_INVITE():
            KSR.setflag(FLT_ACCMISSED)
        self.route_relay()
        KSR.x.exit()

    def route_auth(self):
        if not self.feature("WITH_AUTH"):
            return
        if KSR.is_REGISTER() or KSR.is_myself_furi():
            if KSR.auth_db.auth_check(KSR.kx.gete_fhost(), "subscriber", 1) < 0:
                KSR.auth.auth_challenge(KSR.kx.gete_fhost(), 0)
                KSR.x.exit()
            if not KSR.is_method_in("RP"):
                KSR.auth.consume_credentials()
        if not (KSR.is_myself_furi() or KSR.is_myself_ruri()):
            KSR.sl.sl_send_reply(403, "Not relaying")
            KSR.x.exit()

    def ksr_request_route(self, msg):
        # checks before anything else: floods, scanners, loops, malformed
        self.route_reqinit()
        self.route_natdetect()

        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                self.route_relay()
            KSR.x.exit()

        # retransmissions are answered from their transaction
        if not KSR.is_ACK():
            if KSR.tmx.t_precheck_trans() > 0:
                KSR.tm.t_check_trans()
                KSR.x.exit()
            if KSR.tm.t_check_trans() == 0:
                KSR.x.exit()

        self.route_withindlg()

        # an initial request: a preloaded Route is not followed
        KSR.hdr.remove("Route")
        if KSR.is_method_in("IS"):
            KSR.rr.record_route()
        # account INVITEs (WITH_ACCDB)
        if KSR.is_INVITE():
            KSR.setflag(FLT_ACC)
        self.route_auth()
        self.route_registrar()

        if KSR.corex.has_ruri_user() < 0:
            KSR.sl.sl_send_reply(484, "Address Incomplete")
            KSR.x.exit()
        self.route_location()
        self.route_relay()
        return 1

    def ksr_branch_manage(self, msg):
        KSR.dbg("new branch [%s] to %s\n" % (KSR.pv.get("$T_branch_idx"), KSR.kx.get_ruri()))
        self.route_natmanage()
        return 1

    def ksr_onreply_manage(self, msg):
        KSR.dbg("incoming reply\n")
        scode = KSR.kx.get_status()
        if scode > 100 and scode < 299:
            self.route_natmanage()
        return 1

    # WITH_WEBSOCKETS: HTTP on the SIP TCP socket, a browser's WebSocket
    # upgrade (xhttp's event_callback)
    def ksr_xhttp_event(self, msg, evname):
        KSR.set_reply_close()
        KSR.set_reply_no_connect()
        upgrade = (KSR.hdr.get("Upgrade") or "").lower()
        connection = (KSR.hdr.get("Connection") or "").lower()
        if "websocket" in upgrade and "upgrade" in connection and KSR.kx.get_method() == "GET":
            if KSR.websocket.handle_handshake() > 0:
                return 1
        KSR.xhttp.xhttp_reply(404, "Not Found", "", "")
        return 1

    def ksr_websocket_event(self, msg, evname):
        KSR.info("WebSocket connection from %s:%s closed\n" % (KSR.kx.get_srcip(), KSR.kx.get_srcport()))
        return 1

    def ksr_failure_manage(self, msg):
        self.route_natmanage()
        if KSR.tm.t_is_canceled() > 0:
            return 1
        if self.feature("WITH_VOICEMAIL") and KSR.tm.t_check_status("486|408") > 0:
            # busy or not answering: the call goes to the voicemail server
            uri = (KSR.kx.get_def("VOICEMAIL_URI") or "").replace('"', "")
            KSR.pv.sets("$du", uri)
            KSR.tm.t_relay()
        return 1
