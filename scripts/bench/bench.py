# kemibench's routing in Python: the routing of kamailio.cfg (native),
# written as Kamailio's KEMI scripts are. Runs on kemi (gpython) and on
# Kamailio's app_python3. A sub-route that ends the script returns -255
# (exit), as Kamailio's Python examples do.
import KSR as KSR

FLT_NATS = 5
FLB_NATB = 6


def mod_init():
    return kamailio()


class kamailio:
    def __init__(self):
        pass

    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if self.route_reqinit() == -255:
            return 1
        self.route_natdetect()
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if self.route_withindlg() == -255:
            return 1
        if not KSR.is_ACK():
            if KSR.tmx.t_precheck_trans() > 0:
                KSR.tm.t_check_trans()
                return 1
            KSR.tm.t_check_trans()
        if self.route_auth() == -255:
            return 1
        KSR.hdr.remove("Route")
        if KSR.is_method_in("IS"):
            KSR.rr.record_route()
        if self.route_registrar() == -255:
            return 1
        if KSR.pv.is_null("$rU"):
            KSR.sl.sl_send_reply(484, "Address Incomplete")
            return 1
        self.route_location()
        return 1

    def route_reqinit(self):
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return -255
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
            KSR.sl.sl_send_reply(200, "Keepalive")
            return -255
        if KSR.sanity.sanity_check(17895, 7) < 0:
            KSR.warn("malformed SIP message from " + KSR.pv.get("$si") + ":" + str(KSR.pv.get("$sp")) + "\n")
            return -255
        return 1

    def route_natdetect(self):
        KSR.force_rport()
        if KSR.nathelper.nat_uac_test(19) > 0:
            if KSR.is_REGISTER():
                KSR.nathelper.fix_nated_register()
            elif KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()
            KSR.setflag(FLT_NATS)

    def route_withindlg(self):
        if KSR.siputils.has_totag() < 0:
            return 1
        if KSR.rr.loose_route() > 0:
            KSR.tm.t_relay()
            return -255
        if KSR.is_ACK() and KSR.tm.t_check_trans() > 0:
            KSR.tm.t_relay()
            return -255
        KSR.sl.sl_send_reply(404, "Not here")
        return -255

    def route_auth(self):
        if KSR.is_REGISTER() or KSR.is_myself_furi():
            if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0:
                KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
                return -255
            if not KSR.is_method_in("RP"):
                KSR.auth.consume_credentials()
        if not KSR.is_myself_furi() and not KSR.is_myself_ruri():
            KSR.sl.sl_send_reply(403, "Not relaying")
            return -255
        return 1

    def route_registrar(self):
        if not KSR.is_REGISTER():
            return 1
        if KSR.isflagset(FLT_NATS):
            KSR.setbflag(FLB_NATB)
        if KSR.registrar.save("location", 0) < 0:
            KSR.sl.sl_reply_error()
        return -255

    def route_location(self):
        if KSR.registrar.lookup("location") < 0:
            KSR.sl.sl_send_reply(404, "Not Found")
            return -255
        KSR.tm.t_relay()
        return 1
