export { type TakeOver, type TakeOverOptions, takeOver } from './incoming.ts';
export { type HandOffOptions, handOff } from './outgoing.ts';
export {
  HANDOFF_CHAT_RPC,
  HANDOFF_RPC,
  type HandoffChat,
  type HandoffReady,
  type HandoffRelease,
} from './signal.ts';
export {
  HANDOFF_METADATA_KEY,
  type HandoffTicket,
  newTicket,
  readTicket,
  TicketError,
  type TicketRefusal,
  ticketMetadata,
} from './ticket.ts';
