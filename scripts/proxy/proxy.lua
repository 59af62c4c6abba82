-- kemi's reference proxy in Lua: registrar, location service and stateful
-- proxy, the routing of kamailio.cfg written as Kamailio's KEMI scripts
-- are. Features follow the defines of the config (-A WITH_NAT ...).

local FLT_ACC = 1
local FLT_ACCMISSED = 2
local FLT_ACCFAILED = 3
local FLT_NATS = 5
local FLB_NATB = 6
local FLB_NATSIPPING = 7

-- the defines, read once (KSR is there only while a route runs)
local with = nil
local function feature(name)
	if with == nil then
		with = {}
		for _, d in ipairs({ "WITH_AUTH", "WITH_NAT", "WITH_ANTIFLOOD", "WITH_REDISBANS", "WITH_VOICEMAIL" }) do
			with[d] = KSR.kx.ifdef(d)
		end
	end
	return with[name]
end

-- banned: the address is banned, in Redis with WITH_REDISBANS (every
-- node's bans), else in the htable. redis_cmd_p1 returns 0 when Redis
-- answered, as Kamailio's KEMI function does.
local function banned(ip)
	if feature("WITH_REDISBANS") then
		return KSR.ndb_redis.redis_cmd_p1("bans", "EXISTS ipban:%s", ip, "ban") >= 0
			and KSR.pv.get("$redis(ban=>value)") == 1
	end
	return KSR.htable.sht_match_name("ipban", "eq", ip) > 0
end

local function ban(ip)
	if feature("WITH_REDISBANS") then
		KSR.ndb_redis.redis_cmd_p1("bans", "SETEX ipban:%s 300 1", ip, "ban")
	else
		KSR.htable.sht_seti("ipban", ip, 1)
	end
end

local function route_reqinit()
	if feature("WITH_ANTIFLOOD") and not KSR.is_myself_srcip() then
		local srcip = KSR.kx.get_srcip()
		if banned(srcip) then
			KSR.dbg("request from banned address " .. srcip .. " dropped\n")
			KSR.x.exit()
		end
		if KSR.pike.pike_check_req() < 0 then
			KSR.err("pike: flood from " .. srcip .. ":" .. KSR.kx.get_srcport()
				.. " (" .. KSR.kx.get_method() .. " from " .. KSR.kx.get_furi() .. "), banned\n")
			ban(srcip)
			KSR.x.exit()
		end
	end
	local ua = KSR.kx.gete_ua()
	if string.find(ua, "friendly") or string.find(ua, "scanner")
			or string.find(ua, "sipcli") or string.find(ua, "sipvicious")
			or string.find(ua, "VaxSIP") then
		-- scanners get nothing back
		KSR.x.exit()
	end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed request from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.exit()
	end
end

local function route_natdetect()
	if not feature("WITH_NAT") then
		return
	end
	KSR.force_rport()
	if KSR.nathelper.nat_uac_test(83) > 0 then
		if KSR.is_REGISTER() then
			KSR.nathelper.fix_nated_register()
		elseif KSR.siputils.is_first_hop() > 0 then
			KSR.nathelper.set_contact_alias()
		end
		KSR.setflag(FLT_NATS)
	end
end

-- media relay control comes with rtpproxy/rtpengine; here the signalling
local function route_natmanage()
	if not feature("WITH_NAT") then
		return
	end
	if KSR.siputils.is_request() > 0 then
		if KSR.siputils.has_totag() > 0 then
			if KSR.rr.check_route_param("nat=yes") > 0 then
				KSR.setbflag(FLB_NATB)
			end
		end
	end
	if not (KSR.isflagset(FLT_NATS) or KSR.isbflagset(FLB_NATB)) then
		return
	end
	if KSR.siputils.is_request() > 0 then
		if KSR.siputils.has_totag() < 0 then
			if KSR.tmx.t_is_branch_route() > 0 then
				KSR.rr.add_rr_param(";nat=yes")
			end
		end
	end
	if KSR.siputils.is_reply() > 0 then
		if KSR.isbflagset(FLB_NATB) then
			if KSR.siputils.is_first_hop() > 0 then
				KSR.nathelper.set_contact_alias()
			end
		end
	end
end

local function route_relay()
	if KSR.is_method_in("IBSU") then -- INVITE, BYE, SUBSCRIBE, UPDATE
		if KSR.tm.t_is_set("branch_route") < 0 then
			KSR.tm.t_on_branch("ksr_branch_manage")
		end
	end
	if KSR.is_method_in("ISU") then
		if KSR.tm.t_is_set("onreply_route") < 0 then
			KSR.tm.t_on_reply("ksr_onreply_manage")
		end
	end
	if KSR.is_INVITE() then
		if KSR.tm.t_is_set("failure_route") < 0 then
			KSR.tm.t_on_failure("ksr_failure_manage")
		end
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

local function route_dlguri()
	if feature("WITH_NAT") and not KSR.isdsturiset() then
		KSR.nathelper.handle_ruri_alias()
	end
end

-- requests inside a dialog follow its route set
local function route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return
	end
	if KSR.rr.loose_route() > 0 then
		route_dlguri()
		if KSR.is_BYE() then
			KSR.setflag(FLT_ACC)
			KSR.setflag(FLT_ACCFAILED)
		elseif KSR.is_ACK() then
			route_natmanage()
		elseif KSR.is_NOTIFY() then
			KSR.rr.record_route()
		end
		route_relay()
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- an ACK of a non-2xx reply, or without Route
			route_relay()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

local function route_registrar()
	if not KSR.is_REGISTER() then
		return
	end
	if KSR.isflagset(FLT_NATS) then
		KSR.setbflag(FLB_NATB)
		KSR.setbflag(FLB_NATSIPPING)
	end
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

local function route_location()
	KSR.pv.sets("$avp(oexten)", KSR.pv.gete("$rU"))
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.tm.t_newtran()
		if rc == -1 or rc == -3 then
			KSR.sl.send_reply(404, "Not Found")
			KSR.x.exit()
		elseif rc == -2 then
			KSR.sl.send_reply(405, "Method Not Allowed")
			KSR.x.exit()
		end
	end
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACCMISSED)
	end
	route_relay()
	KSR.x.exit()
end

local function route_auth()
	if not feature("WITH_AUTH") then
		return
	end
	if KSR.is_REGISTER() or KSR.is_myself_furi() then
		if KSR.auth_db.auth_check(KSR.kx.gete_fhost(), "subscriber", 1) < 0 then
			KSR.auth.auth_challenge(KSR.kx.gete_fhost(), 0)
			KSR.x.exit()
		end
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
	end
	if not (KSR.is_myself_furi() or KSR.is_myself_ruri()) then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
end

function ksr_request_route()
	-- checks before anything else: floods, scanners, loops, malformed
	route_reqinit()
	route_natdetect()

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			route_relay()
		end
		KSR.x.exit()
	end

	-- retransmissions are answered from their transaction
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			KSR.x.exit()
		end
		if KSR.tm.t_check_trans() == 0 then
			KSR.x.exit()
		end
	end

	route_withindlg()

	-- an initial request: a preloaded Route is not followed
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	-- account INVITEs (WITH_ACCDB)
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACC)
	end
	route_auth()
	route_registrar()

	if KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		KSR.x.exit()
	end
	route_location()
	route_relay()
end

function ksr_branch_manage()
	KSR.dbg("new branch [" .. KSR.pv.get("$T_branch_idx") .. "] to " .. KSR.kx.get_ruri() .. "\n")
	route_natmanage()
end

function ksr_onreply_manage()
	KSR.dbg("incoming reply\n")
	local scode = KSR.kx.get_status()
	if scode > 100 and scode < 299 then
		route_natmanage()
	end
end

function ksr_failure_manage()
	route_natmanage()
	if KSR.tm.t_is_canceled() > 0 then
		return
	end
	if feature("WITH_VOICEMAIL") and KSR.tm.t_check_status("486|408") > 0 then
		-- busy or not answering: the call goes to the voicemail server
		local uri = string.gsub(KSR.kx.get_def("VOICEMAIL_URI") or "", '"', "")
		KSR.pv.sets("$du", uri)
		KSR.tm.t_relay()
	end
end

-- WITH_WEBSOCKETS: HTTP on the SIP TCP socket, a browser's WebSocket
-- upgrade (xhttp's event_callback)
function ksr_xhttp_event(evname)
	KSR.set_reply_close()
	KSR.set_reply_no_connect()
	local upgrade = string.lower(KSR.hdr.get("Upgrade") or "")
	local connection = string.lower(KSR.hdr.get("Connection") or "")
	if string.find(upgrade, "websocket", 1, true) and string.find(connection, "upgrade", 1, true)
			and KSR.kx.get_method() == "GET" then
		if KSR.websocket.handle_handshake() > 0 then
			return
		end
	end
	KSR.xhttp.xhttp_reply(404, "Not Found", "", "")
end

function ksr_websocket_event(evname)
	KSR.info("WebSocket connection from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. " closed\n")
end
