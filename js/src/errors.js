// What the service worker answers when something fails: an HTTP status and words for
// people, as the local web UI's API does (docs/protocol.md, envelope codes).
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const refused = (status, message) => new ApiError(status, message);
