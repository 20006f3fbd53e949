//! douyin-link-bot: converts Douyin product references pasted in Telegram chats into the
//! operator's affiliate 抖口令 and tells users about the orders bought through them.

pub mod detect;
