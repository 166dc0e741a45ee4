import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAudioLevelIndication,
  useNACK,
  usePLI,
  useSdesMid,
  useSdesRTPStreamId,
} from 'werift';

/**
 * One codec set for both directions, so a packet received on a publisher connection can be sent on a
 * subscriber connection with only SSRC/payload-type rewriting (no transcoding anywhere in the server).
 * Opus is what every LiveKit SDK publishes; VP8 is the video codec both SDKs fall back to. werift refuses
 * to negotiate unless at least one video codec is configured.
 */
function codecs() {
  return {
    audio: [
      new RTCRtpCodecParameters({
        mimeType: 'audio/opus',
        clockRate: 48000,
        channels: 2,
        payloadType: 111,
        parameters: 'minptime=10;useinbandfec=1',
      }),
    ],
    video: [
      new RTCRtpCodecParameters({
        mimeType: 'video/VP8',
        clockRate: 90000,
        payloadType: 96,
        rtcpFeedback: [useNACK(), usePLI()],
      }),
    ],
  };
}

/** Network settings of the server's peer connections (livekit.yaml `rtc:`). */
export interface PeerOptions {
  /** UDP port range for ICE (`rtc.port_range_start`/`port_range_end`); any port when absent. */
  portRange?: [number, number];
  /** Extra address to advertise as a host candidate (`rtc.node_ip`), e.g. a container's published IP. */
  nodeIp?: string;
}

/** A werift peer connection configured for the dev server: host candidates only, IPv4 UDP. */
export function createPeerConnection(options: PeerOptions = {}): RTCPeerConnection {
  return new RTCPeerConnection({
    icePortRange: options.portRange,
    iceAdditionalHostAddresses: options.nodeIp ? [options.nodeIp] : undefined,
    codecs: codecs(),
    headerExtensions: {
      audio: [useSdesMid(), useAudioLevelIndication()],
      // The rid extension lets werift split simulcast layers of one m-line into separate tracks.
      video: [useSdesMid(), useSdesRTPStreamId()],
    },
    iceUseIpv4: true,
    iceUseIpv6: false,
    iceUseTcp: false,
    bundlePolicy: 'max-bundle',
  });
}

interface MediaSection {
  header: string;
  lines: string[];
}

function splitSdp(sdp: string): { session: string[]; media: MediaSection[] } {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const session: string[] = [];
  const media: MediaSection[] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) media.push({ header: line, lines: [] });
    else if (media.length === 0) session.push(line);
    else media[media.length - 1]!.lines.push(line);
  }
  return { session, media };
}

function joinSdp(session: string[], media: MediaSection[]): string {
  const out = [...session];
  for (const m of media) out.push(m.header, ...m.lines);
  return `${out.join('\r\n')}\r\n`;
}

function midOf(m: MediaSection): string | undefined {
  return m.lines.find((l) => l.startsWith('a=mid:'))?.slice(6);
}

/**
 * Whether a trickled candidate (`candidate:<foundation> <component> <transport> <priority> <address> …`)
 * names its address by an mDNS hostname (`<uuid>.local`, or `.invalid`), as browsers do for host
 * candidates of a page without camera/microphone permission. livekit-server ignores these unless
 * `rtc.use_mdns` is on (its default is off): ICE then finds the browser through the checks it sends
 * (a peer-reflexive candidate). werift would instead resolve each name over multicast DNS, waiting up
 * to 10 s for an answer that never comes on most hosts, and a candidate that arrived with the offer
 * (one burst of signal frames) is resolved inside the offer's setRemoteDescription: the answer then
 * waits for every such name in turn, past the client's 15 s negotiation and connection timeouts.
 */
export function isMdnsCandidate(candidate: string): boolean {
  const address = candidate.trim().split(/\s+/)[4]?.toLowerCase() ?? '';
  return address.endsWith('.local') || address.endsWith('.invalid');
}

/** A remote description without its mDNS candidates (`a=candidate:` lines), as livekit-server applies it. */
export function withoutMdnsCandidates(sdp: string): string {
  const { session, media } = splitSdp(sdp);
  for (const m of media) {
    m.lines = m.lines.filter((l) => !(l.startsWith('a=candidate:') && isMdnsCandidate(l.slice(2))));
  }
  return joinSdp(session, media);
}

/** The mids of the m-lines an offer sends media on (not rejected with port 0, inactive or recvonly). */
export function sendingMids(sdp: string): Set<string> {
  const out = new Set<string>();
  for (const m of splitSdp(sdp).media) {
    const mid = midOf(m);
    const rejected = /^m=\S+ 0 /.test(m.header);
    const silent = m.lines.some((l) => l === 'a=inactive' || l === 'a=recvonly');
    if (mid !== undefined && !rejected && !silent) out.add(mid);
  }
  return out;
}

/** mid → the sender's track id (`a=msid:<stream> <track>`), which LiveKit clients set to the track cid. */
export function trackIdsByMid(sdp: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of splitSdp(sdp).media) {
    const mid = midOf(m);
    const msid = m.lines.find((l) => l.startsWith('a=msid:'));
    if (mid === undefined || !msid) continue;
    const track = msid.slice(7).split(' ')[1];
    if (track) out.set(mid, track);
  }
  return out;
}

/**
 * Why an answer cannot answer an offer, or undefined when it can: JSEP (RFC 9429 §5.3.1) requires one
 * m-line per offered m-line, in order, with the same mid. werift accepts almost any text as an answer
 * and would leave the connection without media, so the dev server checks this before applying it.
 */
export function answerMismatch(offer: string, answer: string): string | undefined {
  const offered = splitSdp(offer).media.map(midOf);
  const answered = splitSdp(answer).media.map(midOf);
  if (answered.length !== offered.length)
    return `${answered.length} m-lines in the answer for ${offered.length} offered`;
  const at = offered.findIndex((mid, i) => mid !== answered[i]);
  return at < 0 ? undefined : `m-line ${at} has mid ${answered[at]}, ${offered[at]} was offered`;
}

/**
 * Stamps `a=msid:<PA_sid>|<TR_sid> <TR_sid>` on the sending m-lines of a server offer. Both SDKs find the
 * publication of an incoming track by splitting the stream id on `|`; werift writes no usable msid.
 */
export function stampMsid(
  sdp: string,
  byMid: Map<string, { participantSid: string; trackSid: string }>,
): string {
  const { session, media } = splitSdp(sdp);
  for (const m of media) {
    const mid = midOf(m);
    const label = mid === undefined ? undefined : byMid.get(mid);
    if (!label) continue;
    const stream = `${label.participantSid}|${label.trackSid}`;
    m.lines = m.lines.filter((l) => !l.startsWith('a=msid:') && !/^a=ssrc:\d+ msid:/.test(l));
    const at = m.lines.findIndex((l) => l.startsWith('a=mid:'));
    m.lines.splice(at + 1, 0, `a=msid:${stream} ${label.trackSid}`);
    m.lines = m.lines.map((l) => l.replace(/^(a=ssrc:\d+ cname:).*/, `$1${label.participantSid}`));
  }
  return joinSdp(session, media);
}

/**
 * Keeps every m-line the offer bundled inside the answer's BUNDLE group. werift may answer an m-line it
 * has nothing for (e.g. the recvonly audio/video sections the Rust SDK pre-adds to its publisher offer)
 * with port 0 outside the bundle, which libwebrtc rejects as a BUNDLE violation.
 */
export function keepBundle(offer: string, answer: string): string {
  const offerGroup = splitSdp(offer)
    .session.find((l) => l.startsWith('a=group:BUNDLE'))
    ?.split(' ')
    .slice(1);
  if (!offerGroup) return answer;
  const { session, media } = splitSdp(answer);
  const groupAt = session.findIndex((l) => l.startsWith('a=group:BUNDLE'));
  const answerGroup = groupAt >= 0 ? session[groupAt]!.split(' ').slice(1) : [];
  for (const m of media) {
    const mid = midOf(m);
    if (mid === undefined || !offerGroup.includes(mid)) continue;
    if (/^m=\S+ 0 /.test(m.header)) {
      m.header = m.header.replace(/^(m=\S+) 0 /, '$1 9 ');
      m.lines = m.lines.filter((l) => !/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l));
      m.lines.push('a=inactive');
    }
    if (!answerGroup.includes(mid)) answerGroup.push(mid);
  }
  const ordered = media
    .map(midOf)
    .filter((mid): mid is string => mid !== undefined && answerGroup.includes(mid));
  const group = `a=group:BUNDLE ${ordered.join(' ')}`;
  if (groupAt >= 0) session[groupAt] = group;
  else session.push(group);
  return joinSdp(session, media);
}

/** mid → the id the offer gave an RTP header extension (`a=extmap:<id> <uri>`), for m-lines that have it. */
export function extensionIdsByMid(sdp: string, uri: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of splitSdp(sdp).media) {
    const mid = midOf(m);
    const line = m.lines.find((l) => l.startsWith('a=extmap:') && l.split(' ')[1] === uri);
    if (mid === undefined || !line) continue;
    out.set(mid, Number.parseInt(line.slice('a=extmap:'.length), 10));
  }
  return out;
}
