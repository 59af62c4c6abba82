-- kemi's embedded default routing script (Lua, KEMI).
-- There is no registrar or forwarding in the default config: it answers
-- OPTIONS keepalives and turns every other request away with the right
-- error, so that a SIP client pointed at it gets a clear answer.

function ksr_request_route()
	-- Max-Forwards: add one, decrement it, or stop a looping request.
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end

	-- Malformed requests get their 4xx from sanity, which stops the script.
	KSR.sanity.sanity_check(1511, 7)

	if KSR.is_ACK() then
		-- nothing to acknowledge: no reply was sent statefully
		KSR.x.exit()
	end

	if KSR.is_OPTIONS() then
		KSR.hdr.append_to_reply("Allow: OPTIONS\r\n")
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end

	if KSR.is_CANCEL() then
		KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		KSR.x.exit()
	end

	KSR.hdr.append_to_reply("Allow: OPTIONS\r\n")
	if KSR.kx.get_method() == "INVITE" or KSR.is_method_in("BRMOSPNU") or KSR.is_method("INFO")
		or KSR.is_method("PRACK") or KSR.is_method("REFER") then
		KSR.sl.sl_send_reply(405, "Method Not Allowed")
	else
		KSR.sl.sl_send_reply(501, "Not Implemented")
	end
end
