// Preloaded (`node --import`) into Portkey's gateway by the benchmark. Its start-server.js has no
// host option and listens on every interface; the benchmark must stay on 127.0.0.1, so a
// listen(port) without a host gets 127.0.0.1 added. Nothing else about Portkey is changed.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number') {
    if (args[1] === undefined || args[1] === null) args[1] = '127.0.0.1';
    else if (typeof args[1] === 'function') args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
