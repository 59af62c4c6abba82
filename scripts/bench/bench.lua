-- kemibench's routing in Lua: the routing of kamailio.cfg (native), written
-- as Kamailio's KEMI scripts are. Runs on kemi (gopher-lua and go-lua) and
-- on Kamailio's app_lua.

local FLT_NATS = 5
local FLB_NATB = 6

local function route_reqinit()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.warn("malformed SIP message from " .. KSR.pv.get("$si") .. ":" .. KSR.pv.get("$sp") .. "\n")
		KSR.x.exit()
	end
end

local function route_natdetect()
	KSR.force_rport()
	if KSR.nathelper.nat_uac_test(19) > 0 then
		if KSR.is_REGISTER() then
			KSR.nathelper.fix_nated_register()
		elseif KSR.siputils.is_first_hop() > 0 then
			KSR.nathelper.set_contact_alias()
		end
		KSR.setflag(FLT_NATS)
	end
end

local function route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return
	end
	if KSR.rr.loose_route() > 0 then
		KSR.tm.t_relay()
		KSR.x.exit()
	end
	if KSR.is_ACK() and KSR.tm.t_check_trans() > 0 then
		KSR.tm.t_relay()
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

local function route_auth()
	if KSR.is_REGISTER() or KSR.is_myself_furi() then
		if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0 then
			KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
			KSR.x.exit()
		end
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
	end
	if not KSR.is_myself_furi() and not KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
end

local function route_registrar()
	if not KSR.is_REGISTER() then
		return
	end
	if KSR.isflagset(FLT_NATS) then
		KSR.setbflag(FLB_NATB)
	end
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

local function route_location()
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.tm.t_relay()
	KSR.x.exit()
end

function ksr_request_route()
	route_reqinit()
	route_natdetect()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		KSR.x.exit()
	end
	route_withindlg()
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			KSR.x.exit()
		end
		KSR.tm.t_check_trans()
	end
	route_auth()
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	route_registrar()
	if KSR.pv.is_null("$rU") then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		KSR.x.exit()
	end
	route_location()
end
