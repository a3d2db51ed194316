// `express4` is a devDependency alias (npm:express@4) without its own types; Express 4 and 5 share the
// shape the mounting tests use (express(), use(), get(), json(), urlencoded(), raw(), listen handler).
declare module 'express4' {
  import express from 'express';
  export default express;
}
