"""Wallet forms: who the payer is, the one-time code, a bill to add."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp


class IdentifyForm(FlaskForm):
    identity = StringField(
        "ID number (or name if you have none) 证件号码（无证件填姓名）", validators=[DataRequired(), Length(max=100)]
    )
    contact = StringField(
        "Phone or e-mail on your bills 票据上的手机或邮箱", validators=[DataRequired(), Length(max=200)]
    )
    submit = SubmitField("Send me a code 发送验证码")


class CodeForm(FlaskForm):
    code = StringField("Code 验证码", validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$", message="6 digits")])
    submit = SubmitField("Open my wallet 打开票夹")


class AddBillForm(FlaskForm):
    file = FileField("Bill file (.json) or photo of its QR code 票据文件或二维码照片", validators=[FileRequired()])
    submit = SubmitField("Add 添加")
